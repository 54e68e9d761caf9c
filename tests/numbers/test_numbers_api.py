from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select, text

from herald.auth.principal import Role
from herald.config import Settings
from herald.kit.crypto import SecretBox
from herald.kit.db import Database
from herald.kit.errors import NotFound
from herald.models import WhatsAppNumber
from herald.numbers import service
from herald.numbers.schemas import WhatsAppNumberCreate
from herald.numbers.service import CHANGED_DURING_CALL
from herald.simulator import SimulatorServer
from tests.conftest import OrgHandle
from tests.numbers.helpers import (
    ACCESS_TOKEN,
    ANSWERED,
    APP_SECRET,
    ASKED,
    OTHER_PHONE_NUMBER_ID,
    PHONE_NUMBER_ID,
    SECRETS_AGAIN,
    VERIFY_TOKEN,
    WABA_ID,
    WROTE,
    field_names,
    move_in_database,
    number_body,
    register_number,
    set_throughput,
    sqlite_files,
    watch_whatsapp,
    while_whatsapp_answers,
    write_in_another_session,
)

SECRETS = (ACCESS_TOKEN, APP_SECRET, VERIFY_TOKEN)
NUMBERS = "/api/v1/whatsapp-numbers"


class TestCreateNumber:
    async def test_created_with_info_read_from_whatsapp(
        self, client: httpx.AsyncClient, org: OrgHandle, sim: SimulatorServer
    ) -> None:
        number = await register_number(client, org, sim.base_url)
        assert number["phone_number_id"] == PHONE_NUMBER_ID
        assert number["waba_id"] == WABA_ID
        assert number["graph_api_base"] == sim.base_url
        assert number["graph_api_version"] == "v23.0"
        assert number["throughput_mps"] == 1000
        assert number["messaging_limit_tier"] == "TIER_10K"
        assert number["quality_rating"] == "GREEN"
        assert number["info_synced_at"] is not None and number["info_error"] is None
        assert number["has_access_token"] and number["has_app_secret"] and number["has_verify_token"]

    async def test_unreachable_graph_api_is_422_and_nothing_is_stored(
        self, client: httpx.AsyncClient, org: OrgHandle
    ) -> None:
        # Registering needs Graph to let the token read the number (issue 17, item 11): no answer, no number.
        response = await client.post(NUMBERS, json=number_body("http://127.0.0.1:9"), headers=org.auth)
        assert response.status_code == 422
        assert field_names(response) == {"graph_api_base"}
        assert response.json()["error"]["message"] == (
            "could not reach the Graph API at http://127.0.0.1:9: connection failed"
        )
        assert (await client.get(NUMBERS, headers=org.auth)).json()["items"] == []

    def test_defaults_to_metas_graph_api(self) -> None:
        # Checked on the schema: creating it through the API would send the fake token to Meta.
        body = number_body("x")
        del body["graph_api_base"]
        data = WhatsAppNumberCreate.model_validate(body)
        assert (data.graph_api_base, data.graph_api_version) == ("https://graph.facebook.com", "v23.0")

    @pytest.mark.parametrize(
        "base",
        ["https://graph.facebook.com/v23.0", "ftp://graph.facebook.com", "graph.facebook.com",
         "https://graph.facebook.com?x=1", "https://user:pw@graph.facebook.com"],
    )
    async def test_graph_api_base_must_be_scheme_and_host(
        self, client: httpx.AsyncClient, org: OrgHandle, base: str
    ) -> None:
        response = await client.post(NUMBERS, json=number_body(base), headers=org.auth)
        assert response.status_code == 422
        assert field_names(response) == {"graph_api_base"}

    async def test_graph_api_base_is_normalized(
        self, client: httpx.AsyncClient, org: OrgHandle, sim: SimulatorServer
    ) -> None:
        port = sim.base_url.rsplit(":", 1)[1]
        number = await register_number(client, org, f"HTTP://LocalHost:{port}/")
        assert number["graph_api_base"] == f"http://localhost:{port}"

    @pytest.mark.parametrize("version", ["23.0", "v23", "v23.0/x", "latest"])
    async def test_graph_api_version_must_look_like_v23_0(
        self, client: httpx.AsyncClient, org: OrgHandle, version: str
    ) -> None:
        response = await client.post(
            NUMBERS, json=number_body("http://127.0.0.1:9", graph_api_version=version), headers=org.auth
        )
        assert response.status_code == 422
        assert field_names(response) == {"graph_api_version"}

    async def test_phone_number_id_cannot_break_out_of_the_url_path(
        self, client: httpx.AsyncClient, org: OrgHandle
    ) -> None:
        response = await client.post(
            NUMBERS, json=number_body("http://127.0.0.1:9", phone_number_id="1/../x"), headers=org.auth
        )
        assert response.status_code == 422
        assert field_names(response) == {"phone_number_id"}

    async def test_duplicate_phone_number_id_is_409_even_in_another_org(
        self, client: httpx.AsyncClient, org: OrgHandle, other_org: OrgHandle, sim: SimulatorServer
    ) -> None:
        await register_number(client, org, sim.base_url)
        for who in (org, other_org):
            response = await client.post(NUMBERS, json=number_body(sim.base_url), headers=who.auth)
            assert response.status_code == 409
            assert response.json()["error"]["code"] == "duplicate_phone_number_id"

    async def test_no_transaction_is_open_while_whatsapp_answers(
        self, app: FastAPI, client: httpx.AsyncClient, org: OrgHandle, sim: SimulatorServer, database: Database
    ) -> None:
        watched = await watch_whatsapp(app, sim)
        response = await while_whatsapp_answers(
            watched,
            client.post(NUMBERS, json=number_body(sim.base_url), headers=org.auth),
            write_in_another_session(database, watched, org.id),
        )
        assert response.status_code == 201, response.text
        assert response.json()["throughput_mps"] == 1000 and response.json()["info_error"] is None
        assert watched.events == [ASKED, WROTE, ANSWERED]

    async def test_registered_meanwhile_elsewhere_is_409_for_the_later_one(
        self, app: FastAPI, client: httpx.AsyncClient, org: OrgHandle, other_org: OrgHandle, sim: SimulatorServer
    ) -> None:
        watched = await watch_whatsapp(app, sim)

        async def register_elsewhere() -> None:
            # Passes the check for a free id (the first is not stored yet), asks WhatsApp, then loses the race.
            taken = await client.post(NUMBERS, json=number_body(sim.base_url), headers=other_org.auth)
            assert taken.status_code == 409, taken.text
            assert taken.json()["error"]["code"] == "duplicate_phone_number_id"

        # Not held: the other registration must ask WhatsApp after this one and store after it.
        response = await while_whatsapp_answers(
            watched, client.post(NUMBERS, json=number_body(sim.base_url), headers=org.auth), register_elsewhere,
            hold=False,
        )
        assert response.status_code == 201, response.text
        assert (await client.get(NUMBERS, headers=other_org.auth)).json()["items"] == []


class TestRefreshNumber:
    async def test_no_transaction_is_open_while_whatsapp_answers(
        self, app: FastAPI, client: httpx.AsyncClient, org: OrgHandle, sim: SimulatorServer, database: Database
    ) -> None:
        number = await register_number(client, org, sim.base_url)
        set_throughput(sim, 80)
        watched = await watch_whatsapp(app, sim)
        response = await while_whatsapp_answers(
            watched,
            client.post(f"{NUMBERS}/{number['id']}/refresh", headers=org.auth),
            write_in_another_session(database, watched, org.id),
        )
        assert response.status_code == 200, response.text
        assert response.json()["throughput_mps"] == 80
        assert watched.events == [ASKED, WROTE, ANSWERED]

    async def test_number_deleted_while_whatsapp_answers_is_404(
        self, app: FastAPI, client: httpx.AsyncClient, org: OrgHandle, sim: SimulatorServer
    ) -> None:
        number = await register_number(client, org, sim.base_url)
        path = f"{NUMBERS}/{number['id']}"
        watched = await watch_whatsapp(app, sim)

        async def delete() -> None:
            assert (await client.delete(path, headers=org.auth)).status_code == 204

        response = await while_whatsapp_answers(watched, client.post(f"{path}/refresh", headers=org.auth), delete)
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "whatsapp_number_not_found"
        assert (await client.get(path, headers=org.auth)).status_code == 404

    async def test_number_moved_while_its_info_is_read_keeps_its_own(
        self, app: FastAPI, client: httpx.AsyncClient, org: OrgHandle, sim: SimulatorServer, database: Database
    ) -> None:
        number = await register_number(client, org, sim.base_url)
        path = f"{NUMBERS}/{number['id']}"
        set_throughput(sim, 80)
        watched = await watch_whatsapp(app, sim)

        move = move_in_database(database, number["id"], graph_api_base="http://127.0.0.1:9")
        response = await while_whatsapp_answers(watched, client.post(f"{path}/refresh", headers=org.auth), move)
        assert response.status_code == 200, response.text
        assert response.json()["info_error"] == CHANGED_DURING_CALL
        assert response.json()["throughput_mps"] == 1000
        assert response.json()["info_synced_at"] == number["info_synced_at"]


class TestReadUpdateDelete:
    async def test_list_and_get(self, client: httpx.AsyncClient, org: OrgHandle, sim: SimulatorServer) -> None:
        first = await register_number(client, org, sim.base_url)
        second = await register_number(client, org, sim.base_url, phone_number_id=OTHER_PHONE_NUMBER_ID)
        listed = await client.get(NUMBERS, headers=org.headers(Role.viewer))
        assert [n["id"] for n in listed.json()["items"]] == [first["id"], second["id"]]
        page = await client.get(NUMBERS, params={"limit": 1}, headers=org.auth)
        assert len(page.json()["items"]) == 1 and page.json()["next_cursor"]
        rest = await client.get(NUMBERS, params={"limit": 1, "cursor": page.json()["next_cursor"]}, headers=org.auth)
        assert [n["id"] for n in rest.json()["items"]] == [second["id"]]
        got = await client.get(f"{NUMBERS}/{first['id']}", headers=org.headers(Role.viewer))
        assert got.json()["phone_number_id"] == PHONE_NUMBER_ID

    async def test_patch_replaces_given_secrets_and_keeps_omitted_ones(
        self, client: httpx.AsyncClient, org: OrgHandle, database: Database, settings: Settings, sim: SimulatorServer
    ) -> None:
        number = await register_number(client, org, sim.base_url)
        response = await client.patch(
            f"{NUMBERS}/{number['id']}",
            json={"access_token": "new-token", "display_phone_number": "+1 555 999", "app_secret": None},
            headers=org.auth,
        )
        assert response.status_code == 200
        assert response.json()["display_phone_number"] == "+1 555 999"
        box = SecretBox(settings.encryption_keys)
        async with database.session() as session:
            creds = await service.credentials_for(session, box, org_id=org.id, number_id=number["id"])
            row = await session.scalar(select(WhatsAppNumber).where(WhatsAppNumber.phone_number_id == PHONE_NUMBER_ID))
            assert row is not None
            assert box.decrypt(row.app_secret_enc) == APP_SECRET
            assert box.decrypt(row.verify_token_enc) == VERIFY_TOKEN
        assert creds.access_token == "new-token"

    async def test_patch_to_a_taken_phone_number_id_is_409(
        self, client: httpx.AsyncClient, org: OrgHandle, sim: SimulatorServer
    ) -> None:
        await register_number(client, org, sim.base_url)
        second = await register_number(client, org, sim.base_url, phone_number_id=OTHER_PHONE_NUMBER_ID)
        response = await client.patch(
            f"{NUMBERS}/{second['id']}", json={"phone_number_id": PHONE_NUMBER_ID, **SECRETS_AGAIN}, headers=org.auth
        )
        assert response.status_code == 409

    async def test_patch_validates_graph_api_base(self, client: httpx.AsyncClient, org: OrgHandle, sim: SimulatorServer) -> None:
        number = await register_number(client, org, sim.base_url)
        response = await client.patch(
            f"{NUMBERS}/{number['id']}", json={"graph_api_base": "https://x.test/v23.0"}, headers=org.auth
        )
        assert response.status_code == 422 and field_names(response) == {"graph_api_base"}

    async def test_delete(self, client: httpx.AsyncClient, org: OrgHandle, sim: SimulatorServer) -> None:
        number = await register_number(client, org, sim.base_url)
        assert (await client.delete(f"{NUMBERS}/{number['id']}", headers=org.auth)).status_code == 204
        assert (await client.get(f"{NUMBERS}/{number['id']}", headers=org.auth)).status_code == 404

    async def test_refresh_reads_the_current_throughput(
        self, client: httpx.AsyncClient, org: OrgHandle, sim: SimulatorServer
    ) -> None:
        number = await register_number(client, org, sim.base_url)
        set_throughput(sim, 80)
        response = await client.post(f"{NUMBERS}/{number['id']}/refresh", headers=org.auth)
        assert response.status_code == 200
        assert response.json()["throughput_mps"] == 80


class TestSecrets:
    async def test_secrets_are_in_no_response(
        self, client: httpx.AsyncClient, org: OrgHandle, sim: SimulatorServer
    ) -> None:
        created = await client.post(NUMBERS, json=number_body(sim.base_url), headers=org.auth)
        number_id = created.json()["id"]
        responses = [
            created,
            await client.get(NUMBERS, headers=org.auth),
            await client.get(f"{NUMBERS}/{number_id}", headers=org.auth),
            await client.patch(f"{NUMBERS}/{number_id}", json={"verify_token": VERIFY_TOKEN}, headers=org.auth),
            await client.post(f"{NUMBERS}/{number_id}/refresh", headers=org.auth),
            await client.post(NUMBERS, json=number_body(sim.base_url), headers=org.auth),  # the 409
        ]
        for response in responses:
            assert response.status_code < 500
            for secret in SECRETS:
                assert secret not in response.text

    async def test_secrets_are_unreadable_in_the_database(
        self, client: httpx.AsyncClient, org: OrgHandle, database: Database, settings: Settings, sim: SimulatorServer
    ) -> None:
        await register_number(client, org, sim.base_url)
        async with database.session() as session:
            row = (await session.execute(text("SELECT * FROM whatsapp_numbers"))).one()
        stored = " ".join(str(value) for value in row)
        for secret in SECRETS:
            assert secret not in stored
        for path in sqlite_files(settings.database_url):
            content = path.read_bytes()
            for secret in SECRETS:
                assert secret.encode() not in content, path

    async def test_the_verify_token_is_found_by_its_digest(
        self, client: httpx.AsyncClient, org: OrgHandle, database: Database, settings: Settings, sim: SimulatorServer
    ) -> None:
        await register_number(client, org, sim.base_url)
        box = SecretBox(settings.encryption_keys)
        async with database.session() as session:
            key = settings.secret_key
            assert await service.verify_token_matches(session, box, secret_key=key, verify_token=VERIFY_TOKEN)
            assert not await service.verify_token_matches(session, box, secret_key=key, verify_token="wrong")


class TestTenantsAndRoles:
    async def test_another_orgs_number_is_404_everywhere(
        self, client: httpx.AsyncClient, org: OrgHandle, other_org: OrgHandle, sim: SimulatorServer
    ) -> None:
        number = await register_number(client, org, sim.base_url)
        path = f"{NUMBERS}/{number['id']}"
        h = other_org.auth
        calls = [
            client.get(path, headers=h),
            client.patch(path, json={"display_phone_number": "x"}, headers=h),
            client.delete(path, headers=h),
            client.post(f"{path}/refresh", headers=h),
            client.post(f"{path}/sync-templates", headers=h),
            client.post(f"{path}/media", files={"file": ("a.png", b"\x89PNG\r\n\x1a\n", "image/png")}, headers=h),
            client.get("/api/v1/templates", params={"whatsapp_number_id": number["id"]}, headers=h),
        ]
        for call in calls:
            response = await call
            assert response.status_code == 404, response.text
        assert (await client.get(NUMBERS, headers=h)).json()["items"] == []
        assert (await client.get(path, headers=org.auth)).json()["display_phone_number"] == "+1 555 000 0001"

    async def test_credentials_for_another_org_is_not_found(
        self, client: httpx.AsyncClient, org: OrgHandle, other_org: OrgHandle, database: Database, settings: Settings, sim: SimulatorServer
    ) -> None:
        number = await register_number(client, org, sim.base_url)
        async with database.session() as session:
            with pytest.raises(NotFound):
                await service.credentials_for(
                    session, SecretBox(settings.encryption_keys), org_id=other_org.id, number_id=number["id"]
                )

    async def test_viewer_may_read_but_not_change(self, client: httpx.AsyncClient, org: OrgHandle, sim: SimulatorServer) -> None:
        number = await register_number(client, org, sim.base_url)
        path = f"{NUMBERS}/{number['id']}"
        viewer = org.headers(Role.viewer)
        assert (await client.get(path, headers=viewer)).status_code == 200
        writes = [
            client.post(NUMBERS, json=number_body("http://127.0.0.1:9", phone_number_id="77"), headers=viewer),
            client.patch(path, json={"display_phone_number": "x"}, headers=viewer),
            client.delete(path, headers=viewer),
            client.post(f"{path}/refresh", headers=viewer),
            client.post(f"{path}/sync-templates", headers=viewer),
            client.post(f"{path}/media", files={"file": ("a.png", b"\x89PNG\r\n\x1a\n", "image/png")}, headers=viewer),
        ]
        for call in writes:
            assert (await call).status_code == 403
