"""Bad input that used to answer 500: each is now a 4xx with the error shape, naming the field.

A contact search longer than SQLite's LIKE pattern limit, a placeholder key that is a digit but not
a decimal (``"²"``), a funnel event time whose UTC form falls before year 1, and NUL characters:
in a CSV import (PostgreSQL's COPY refused the whole file) and in the API's text fields.
"""

from __future__ import annotations

import io

import httpx
import pytest
from fastapi import FastAPI

from herald.auth.principal import Role
from herald.dispatch.materialize import materialize_job
from herald.kit.db import Database
from tests.conftest import OrgHandle
from tests.factories import make_active_campaign, make_bot_flow, make_contacts, make_number
from tests.properties.helpers import stored_contacts
from tests.web.helpers import log_in, make_user, page_csrf

CONTACTS = "/api/v1/contacts"


def assert_refused(response: httpx.Response, field: str, status: int = 422) -> dict[str, object]:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"code", "message", "details"}
    assert any(d["field"] == field for d in error["details"]), error
    return error  # type: ignore[no-any-return]


class TestContactSearch:
    @pytest.fixture(autouse=True)
    async def contacts(self, database: Database, org: OrgHandle) -> None:
        # A LIKE pattern is only checked against a row: with no contacts nothing fails.
        await make_contacts(database, org_id=org.id, specs=[{"phone": "+14155550100", "name": "Ann"}])

    @pytest.mark.parametrize("q", ["a" * 50_001, "_" * 30_000, "ab" * 10_000])
    async def test_a_search_too_long_for_a_like_pattern_is_refused_naming_q(
        self, client: httpx.AsyncClient, org: OrgHandle, q: str
    ) -> None:
        response = await client.get(CONTACTS, params={"q": q}, headers=org.auth)
        error = assert_refused(response, "q")
        assert "200" in str(error["message"]) or "200" in str(error["details"])

    async def test_a_search_at_the_limit_still_answers(self, client: httpx.AsyncClient, org: OrgHandle) -> None:
        response = await client.get(CONTACTS, params={"q": "%_" * 100}, headers=org.auth)
        assert response.status_code == 200 and response.json()["items"] == []

    async def test_the_ui_search_too_long_is_refused_not_a_500(
        self, client: httpx.AsyncClient, database: Database, org: OrgHandle
    ) -> None:
        email = await make_user(database, org_id=org.id, role=Role.viewer)
        assert (await log_in(client, email)).status_code == 303
        response = await client.get("/ui/contacts", params={"q": "a" * 60_000})
        assert response.status_code == 422, response.text[:500]
        assert "200" in response.text


@pytest.fixture
async def funnel_campaign(app: FastAPI, database: Database, org: OrgHandle) -> tuple[int, int]:
    box = app.state.secret_box
    number = await make_number(database, box, org_id=org.id, base_url="http://127.0.0.1:9")
    bot = await make_bot_flow(database, box, org_id=org.id)
    (contact,) = await make_contacts(database, org_id=org.id, specs=[{"phone": "+14155554001", "tags": ["vip"]}])
    campaign = await make_active_campaign(database, org_id=org.id, number_id=number, audience={"tags_any": ["vip"]},
                                          variables={}, media_row_id=None, bot_flow_id=bot)
    await materialize_job(database, {"campaign_id": campaign})
    return campaign, contact


class TestFunnelEventTimes:
    @pytest.mark.parametrize("at", [
        "0001-01-01T00:00:00+14:00",  # before year 1 once in UTC
        "9999-12-31T23:59:59-14:00",  # after year 9999 once in UTC
        "1900-01-01T00:00:00Z",
        "2999-01-01T00:00:00Z",
    ])
    async def test_a_time_out_of_range_is_refused_naming_at(
        self, client: httpx.AsyncClient, org: OrgHandle, funnel_campaign: tuple[int, int], at: str
    ) -> None:
        campaign, contact = funnel_campaign
        response = await client.post(f"/api/v1/campaigns/{campaign}/funnel-events", headers=org.headers(Role.editor),
                                     json={"contact_id": contact, "step": "asked", "at": at})
        assert_refused(response, "at")

    async def test_a_time_in_range_is_kept(
        self, client: httpx.AsyncClient, org: OrgHandle, funnel_campaign: tuple[int, int]
    ) -> None:
        campaign, contact = funnel_campaign
        response = await client.post(f"/api/v1/campaigns/{campaign}/funnel-events", headers=org.headers(Role.editor),
                                     json={"contact_id": contact, "step": "asked", "at": "2026-03-01T12:00:00+14:00"})
        assert response.status_code == 201, response.text
        assert response.json()["at"] == "2026-02-28T22:00:00Z"


class TestPlaceholderKeys:
    @pytest.mark.parametrize("key", ["²", "١", "1²", "𝟙", "0", "01", "-1", " 1"])
    async def test_a_key_that_is_not_a_plain_positive_number_is_refused_naming_variables(
        self, client: httpx.AsyncClient, org: OrgHandle, key: str
    ) -> None:
        body = {"name": "Spring", "variables": {key: {"source": "text", "value": "x"}}}
        assert_refused(await client.post("/api/v1/campaigns", json=body, headers=org.auth), "variables")
        preview = {"variables": {key: {"source": "text", "value": "x"}}}
        assert_refused(await client.post("/api/v1/campaigns/audience-preview", json=preview, headers=org.auth),
                       "variables")


class TestNulCharacters:
    async def test_a_csv_line_with_a_nul_is_rejected_and_the_rest_imported(
        self, client: httpx.AsyncClient, database: Database, org: OrgHandle
    ) -> None:
        csv = ("phone,name,tags,vt:city\n+14155550101,Ann,vip,Paris\n+14155550102,B\x00b,vip,Lyon\n"
               "+14155550103,Cy,v\x00ip,Nice\n+14155550104,Di,vip,Ro\x00me\n+14155550105,Ed,vip,Oslo\n")
        response = await client.post(f"{CONTACTS}/import", headers=org.auth,
                                     files={"file": ("c.csv", io.BytesIO(csv.encode()), "text/csv")})
        assert response.status_code == 200, response.text
        result = response.json()
        assert result["imported"] == 2 and result["rejected_count"] == 3
        assert [(r["line"], "NUL character" in r["reason"]) for r in result["rejected"]] == [
            (3, True), (4, True), (5, True)
        ]
        stored = await stored_contacts(database, org.id)
        assert sorted(stored) == ["+14155550101", "+14155550105"]

    @pytest.mark.parametrize(("body", "field"), [
        ({"phone": "+14155550111", "name": "A\x00b"}, "name"),
        ({"phone": "+14155550111", "tags": ["v\x00ip"]}, "tags"),
        ({"phone": "+14155550111", "valued_tags": {"city": "Pa\x00ris"}}, "valued_tags"),
        ({"phone": "+14155550111", "locale": "fr\x00"}, "locale"),
    ])
    async def test_a_nul_in_a_contact_field_is_refused_naming_it(
        self, client: httpx.AsyncClient, org: OrgHandle, body: dict[str, object], field: str
    ) -> None:
        error = assert_refused(await client.post(CONTACTS, json=body, headers=org.auth), field)
        assert "NUL" in str(error["details"])


class TestNumbersGivenAsText:
    """Ids typed where a number is expected: digits to ``str.isdigit`` that ``int()`` refuses ("²"),
    or more digits than an id has."""

    @pytest.mark.parametrize("cursor", ["MTg0NDY3NDQwNzM3MDk1NTE2MTY", "wrI", "OTk5" * 2000])
    async def test_a_cursor_that_is_no_id_is_refused_naming_cursor(
        self, client: httpx.AsyncClient, org: OrgHandle, cursor: str
    ) -> None:
        # 18446744073709551616 (2**64), "²", and a 6,000-digit number, base64-encoded
        for path in (CONTACTS, "/api/v1/campaigns", "/api/v1/bot-flows"):
            assert_refused(await client.get(path, params={"cursor": cursor}, headers=org.auth), "cursor")

    @pytest.mark.parametrize("raw", ["²", "9" * 5000])
    async def test_ui_forms_with_such_a_number_answer_without_a_500(
        self, client: httpx.AsyncClient, database: Database, org: OrgHandle, raw: str
    ) -> None:
        email = await make_user(database, org_id=org.id, role=Role.editor)
        assert (await log_in(client, email)).status_code == 303
        token = await page_csrf(client, "/ui/campaigns/new")
        created = await client.post("/ui/campaigns/new",
                                    data={"csrf_token": token, "name": "Spring", "whatsapp_number_id": raw})
        assert created.status_code in (303, 422), created.text[:300]
        synced = await client.post("/ui/templates/sync", data={"csrf_token": token, "whatsapp_number_id": raw})
        assert synced.status_code == 303 and synced.headers["location"].startswith("/ui/templates")


class TestHostNames:
    @pytest.mark.parametrize("host", ["x" * 64 + ".example", "a..b.example"])
    async def test_a_graph_api_base_the_resolver_cannot_encode_is_refused_naming_it(
        self, client: httpx.AsyncClient, org: OrgHandle, host: str
    ) -> None:
        body = {"display_phone_number": "+1 555 0100", "phone_number_id": "1090001", "waba_id": "2090001",
                "access_token": "t", "app_secret": "s", "verify_token": "v", "graph_api_base": f"https://{host}"}
        assert_refused(await client.post("/api/v1/whatsapp-numbers", json=body, headers=org.auth), "graph_api_base")
