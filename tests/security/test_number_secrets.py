"""Issue 17, item 2: a number's stored access token cannot be led to a host someone else chose.

Changing where a number's traffic goes (`graph_api_base`, `phone_number_id`) needs an admin and the
access token and app secret given again in the same request. The attacker's host is a real server
on loopback that records every Authorization header it receives; before the fix an editor's PATCH
followed by a refresh, a template sync or a media upload handed it the stored token.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from herald.auth.principal import Role
from herald.kit.db import Database
from herald.simulator import SimulatorServer
from tests.conftest import OrgHandle
from tests.numbers.helpers import ACCESS_TOKEN, APP_SECRET, PHONE_NUMBER_ID, number_body, scenario
from tests.security.recorder import Recorder, recording_server
from tests.web.helpers import log_in, make_user, page_csrf

NUMBERS = "/api/v1/whatsapp-numbers"
STORED = f"Bearer {ACCESS_TOKEN}"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


@pytest.fixture
def sim() -> Iterator[SimulatorServer]:
    with SimulatorServer(scenario(), webhook_url=None, app_secret="s") as server:
        yield server


async def registered(client: httpx.AsyncClient, org: OrgHandle, sim: SimulatorServer) -> dict[str, Any]:
    response = await client.post(NUMBERS, json=number_body(sim.base_url), headers=org.auth)
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


async def use_the_number(client: httpx.AsyncClient, org: OrgHandle, number_id: int) -> None:
    """Every call that sends the number's token: number info, templates, a media upload."""
    headers = org.headers(Role.editor)
    await client.post(f"{NUMBERS}/{number_id}/refresh", headers=headers)
    await client.post(f"{NUMBERS}/{number_id}/sync-templates", headers=headers)
    await client.post(f"{NUMBERS}/{number_id}/media", files={"file": ("a.png", PNG, "image/png")}, headers=headers)


def details(response: httpx.Response) -> dict[str, str]:
    return {d["field"]: d["message"] for d in response.json()["error"]["details"] or ()}


class TestTheTokenStaysHome:
    @pytest.mark.parametrize("role", [Role.admin, Role.editor])
    async def test_pointing_graph_api_base_elsewhere_without_the_secrets_is_refused(
        self, client: httpx.AsyncClient, org: OrgHandle, sim: SimulatorServer, role: Role
    ) -> None:
        number = await registered(client, org, sim)
        async with recording_server() as attacker:
            moved = await client.patch(f"{NUMBERS}/{number['id']}", json={"graph_api_base": attacker.url},
                                       headers=org.headers(role))
            await use_the_number(client, org, number["id"])
        assert STORED not in attacker.authorizations
        assert attacker.requests == []
        assert moved.status_code == (422 if role is Role.admin else 403), moved.text
        current = (await client.get(f"{NUMBERS}/{number['id']}", headers=org.auth)).json()
        assert current["graph_api_base"] == sim.base_url

    async def test_without_the_secrets_is_422_naming_both(
        self, client: httpx.AsyncClient, org: OrgHandle, sim: SimulatorServer
    ) -> None:
        number = await registered(client, org, sim)
        async with recording_server() as attacker:
            for change in ({"graph_api_base": attacker.url}, {"phone_number_id": "1090002"}):
                response = await client.patch(f"{NUMBERS}/{number['id']}", json=change, headers=org.auth)
                assert response.status_code == 422, response.text
                assert response.json()["error"]["code"] == "secrets_required"
                assert set(details(response)) == {"access_token", "app_secret"}
            half = await client.patch(f"{NUMBERS}/{number['id']}",
                                      json={"graph_api_base": attacker.url, "access_token": "x"}, headers=org.auth)
            assert half.status_code == 422 and set(details(half)) == {"app_secret"}
        assert attacker.requests == []

    @pytest.mark.parametrize("field", ["graph_api_base", "phone_number_id"])
    async def test_an_editor_may_not_move_a_number_even_with_the_secrets(
        self, client: httpx.AsyncClient, org: OrgHandle, sim: SimulatorServer, field: str
    ) -> None:
        number = await registered(client, org, sim)
        async with recording_server() as attacker:
            value = attacker.url if field == "graph_api_base" else "1090002"
            response = await client.patch(
                f"{NUMBERS}/{number['id']}",
                json={field: value, "access_token": "their-token", "app_secret": "their-secret"},
                headers=org.headers(Role.editor),
            )
        assert response.status_code == 403, response.text
        error = response.json()["error"]
        assert error["code"] == "admin_only" and error["message"] and set(details(response)) == {field}
        assert attacker.requests == []
        current = (await client.get(f"{NUMBERS}/{number['id']}", headers=org.auth)).json()
        assert (current["graph_api_base"], current["phone_number_id"]) == (sim.base_url, PHONE_NUMBER_ID)

    async def test_an_admin_giving_the_secrets_moves_it_and_only_the_new_token_goes_there(
        self, client: httpx.AsyncClient, org: OrgHandle, sim: SimulatorServer
    ) -> None:
        number = await registered(client, org, sim)
        async with recording_server() as new_home:
            moved = await client.patch(
                f"{NUMBERS}/{number['id']}",
                json={"graph_api_base": new_home.url, "access_token": "new-token", "app_secret": "new-secret"},
                headers=org.auth,
            )
            assert moved.status_code == 200, moved.text
            assert moved.json()["graph_api_base"] == new_home.url
            await use_the_number(client, org, number["id"])
        assert new_home.authorizations and set(new_home.authorizations) == {"Bearer new-token"}

    async def test_the_rest_of_a_number_still_changes_without_secrets(
        self, client: httpx.AsyncClient, org: OrgHandle, sim: SimulatorServer
    ) -> None:
        number = await registered(client, org, sim)
        # What the settings form sends: every field, the target unchanged.
        change = {"display_phone_number": "+1 555 000 0002", "graph_api_version": "v22.0",
                  "graph_api_base": sim.base_url + "/", "phone_number_id": PHONE_NUMBER_ID}
        response = await client.patch(f"{NUMBERS}/{number['id']}", json=change, headers=org.headers(Role.editor))
        assert response.status_code == 200, response.text
        assert response.json()["display_phone_number"] == "+1 555 000 0002"


class TestTheSettingsPage:
    @pytest.fixture(autouse=True)
    async def _close_browsers(self) -> AsyncIterator[None]:
        self.browsers: list[httpx.AsyncClient] = []
        yield
        for browser in self.browsers:
            await browser.aclose()

    async def editor_form(
        self, app: FastAPI, database: Database, org: OrgHandle, role: Role
    ) -> tuple[httpx.AsyncClient, str]:
        email = await make_user(database, org_id=org.id, role=role, email=f"{role.value}-ui@acme.test")
        browser = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://herald.test")
        assert (await log_in(browser, email)).status_code == 303
        self.browsers.append(browser)
        return browser, await page_csrf(browser, "/ui/numbers")

    async def post_form(self, browser: httpx.AsyncClient, csrf: str, number_id: int, **fields: str) -> httpx.Response:
        return await browser.post(f"/ui/numbers/{number_id}", data={"csrf_token": csrf, **fields})

    async def test_an_editor_cannot_move_a_number_from_the_page(
        self, app: FastAPI, client: httpx.AsyncClient, database: Database, org: OrgHandle, sim: SimulatorServer
    ) -> None:
        number = await registered(client, org, sim)
        browser, csrf = await self.editor_form(app, database, org, Role.editor)
        async with recording_server() as attacker:
            answer = await self.post_form(browser, csrf, number["id"], graph_api_base=attacker.url,
                                          phone_number_id=PHONE_NUMBER_ID, access_token="t", app_secret="s")
            await use_the_number(client, org, number["id"])
        assert answer.status_code == 403
        assert attacker.requests == []

    async def test_an_admin_must_give_the_secrets_on_the_page(
        self, app: FastAPI, client: httpx.AsyncClient, database: Database, org: OrgHandle, sim: SimulatorServer
    ) -> None:
        number = await registered(client, org, sim)
        browser, csrf = await self.editor_form(app, database, org, Role.admin)
        async with recording_server() as attacker:
            answer = await self.post_form(browser, csrf, number["id"], graph_api_base=attacker.url,
                                          phone_number_id=PHONE_NUMBER_ID)
            await use_the_number(client, org, number["id"])
            assert answer.status_code == 422
            assert "needs the access token and app secret given again" in answer.text
            moved = await self.post_form(browser, csrf, number["id"], graph_api_base=attacker.url,
                                         phone_number_id=PHONE_NUMBER_ID, access_token="new-token",
                                         app_secret=APP_SECRET)
            assert moved.status_code == 303, moved.text
        assert STORED not in attacker.authorizations and "Bearer new-token" in attacker.authorizations


def test_the_recorder_would_have_seen_the_token() -> None:
    """An empty record above means nothing came: the recorder does record Authorization headers."""
    assert Recorder(requests=[("GET", "/v23.0/1", STORED)]).authorizations == [STORED]
