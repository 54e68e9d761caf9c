"""Issue 17, item 11: no organization can claim a WhatsApp number whose token it does not hold, and
Meta's webhook handshake finds numbers by a digest of their verify token instead of decrypting every
number's token on each request.

The simulator knows two numbers, each readable only with its own organization's token.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from alembic import command
from cryptography.fernet import Fernet
from fastapi import FastAPI
from sqlalchemy import select
from typer.testing import CliRunner

from herald.app import create_app
from herald.auth.principal import Role
from herald.cli import app as cli_app
from herald.config import Settings, get_settings
from herald.kit import migrate
from herald.kit.crypto import SecretBox
from herald.kit.db import Database
from herald.kit.types import utcnow
from herald.models import BotDelivery, WhatsAppNumber
from herald.simulator import Scenario, SimulatorServer
from tests.conftest import TEST_FERNET_KEY, TEST_SECRET_KEY, OrgHandle
from tests.factories import make_active_campaign, make_bot_flow, make_contacts, make_number
from tests.web.helpers import log_in, make_user, page_csrf

NUMBERS = "/api/v1/whatsapp-numbers"
ACME_NUMBER, ACME_TOKEN = "1090001", "acme-token"
GLOBEX_NUMBER, GLOBEX_TOKEN = "1090005", "globex-token"
VERIFY = "/webhooks/whatsapp"


@pytest.fixture
def sim() -> Iterator[SimulatorServer]:
    numbers = [
        {"phone_number_id": ACME_NUMBER, "waba_id": "2090001", "access_token": ACME_TOKEN},
        {"phone_number_id": GLOBEX_NUMBER, "waba_id": "2090005", "access_token": GLOBEX_TOKEN},
    ]
    with SimulatorServer(Scenario.model_validate({"phone_numbers": numbers}), webhook_url=None, app_secret="s") as s:
        yield s


def body(sim: SimulatorServer, phone_number_id: str, token: str, verify_token: str = "verify-me") -> dict[str, Any]:
    return {"display_phone_number": "+1 555 000 0001", "phone_number_id": phone_number_id, "waba_id": "2090001",
            "access_token": token, "app_secret": "app-secret", "verify_token": verify_token,
            "graph_api_base": sim.base_url}


def fields(response: httpx.Response) -> set[str]:
    return {d["field"] for d in response.json()["error"]["details"] or ()}


async def handshake(client: httpx.AsyncClient, token: str) -> httpx.Response:
    params = {"hub.mode": "subscribe", "hub.verify_token": token, "hub.challenge": "1158201444"}
    return await client.get(VERIFY, params=params)


async def digests(database: Database) -> list[str | None]:
    async with database.read_session() as session:
        query = select(WhatsAppNumber.verify_token_digest).order_by(WhatsAppNumber.id)
        return list((await session.execute(query)).scalars())


class TestClaimingANumber:
    async def test_a_token_that_cannot_read_the_number_is_422_and_the_owner_can_still_register_it(
        self, client: httpx.AsyncClient, org: OrgHandle, other_org: OrgHandle, sim: SimulatorServer
    ) -> None:
        taken = await client.post(NUMBERS, json=body(sim, ACME_NUMBER, GLOBEX_TOKEN), headers=other_org.auth)
        assert taken.status_code == 422, taken.text
        assert taken.json()["error"]["code"] == "whatsapp_number_not_readable"
        assert fields(taken) == {"phone_number_id", "access_token"}
        assert (await client.get(NUMBERS, headers=other_org.auth)).json()["items"] == []
        owned = await client.post(NUMBERS, json=body(sim, ACME_NUMBER, ACME_TOKEN), headers=org.auth)
        assert owned.status_code == 201, owned.text

    async def test_a_phone_number_graph_does_not_know_is_422(
        self, client: httpx.AsyncClient, org: OrgHandle, sim: SimulatorServer
    ) -> None:
        response = await client.post(NUMBERS, json=body(sim, "1099999", ACME_TOKEN), headers=org.auth)
        assert response.status_code == 422 and fields(response) == {"phone_number_id", "access_token"}

    async def test_moving_onto_another_organizations_number_is_422(
        self, client: httpx.AsyncClient, org: OrgHandle, other_org: OrgHandle, sim: SimulatorServer
    ) -> None:
        own = await client.post(NUMBERS, json=body(sim, GLOBEX_NUMBER, GLOBEX_TOKEN), headers=other_org.auth)
        assert own.status_code == 201, own.text
        moved = await client.patch(
            f"{NUMBERS}/{own.json()['id']}",
            json={"phone_number_id": ACME_NUMBER, "access_token": GLOBEX_TOKEN, "app_secret": "app-secret"},
            headers=other_org.auth,
        )
        assert moved.status_code == 422, moved.text
        assert fields(moved) == {"phone_number_id", "access_token"}
        current = (await client.get(f"{NUMBERS}/{own.json()['id']}", headers=other_org.auth)).json()
        assert current["phone_number_id"] == GLOBEX_NUMBER
        owned = await client.post(NUMBERS, json=body(sim, ACME_NUMBER, ACME_TOKEN), headers=org.auth)
        assert owned.status_code == 201, owned.text

    async def test_the_settings_page_checks_too(
        self, app: FastAPI, client: httpx.AsyncClient, database: Database, org: OrgHandle, sim: SimulatorServer
    ) -> None:
        email = await make_user(database, org_id=org.id, role=Role.editor)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://herald.test") as browser:
            assert (await log_in(browser, email)).status_code == 303
            csrf = await page_csrf(browser, "/ui/numbers")
            answer = await browser.post("/ui/numbers", data={"csrf_token": csrf, **body(sim, ACME_NUMBER, "guess")})
        assert answer.status_code == 422
        assert "did not let this access token read phone number" in answer.text
        assert (await client.get(NUMBERS, headers=org.auth)).json()["items"] == []


class CountingBox(SecretBox):
    """The app's real SecretBox, counting how many secrets it decrypts."""

    decrypted = 0

    def decrypt(self, token: str) -> str:
        self.decrypted += 1
        return super().decrypt(token)


@pytest.fixture
def counting_box(app: FastAPI, settings: Settings) -> CountingBox:
    box = CountingBox(settings.encryption_keys)
    app.state.secret_box = box
    return box


class TestWebhookHandshake:
    async def test_echoes_the_challenge_only_for_a_registered_verify_token(
        self, client: httpx.AsyncClient, org: OrgHandle, sim: SimulatorServer
    ) -> None:
        assert (await client.post(NUMBERS, json=body(sim, ACME_NUMBER, ACME_TOKEN), headers=org.auth)).is_success
        answer = await handshake(client, "verify-me")
        assert (answer.status_code, answer.text) == (200, "1158201444")
        assert (await handshake(client, "verify-me-not")).status_code == 403
        assert (await handshake(client, "")).status_code == 403

    async def test_decrypts_no_verify_token_per_request(
        self, app: FastAPI, client: httpx.AsyncClient, database: Database, org: OrgHandle, sim: SimulatorServer,
        counting_box: CountingBox,
    ) -> None:
        for phone_number_id, token in ((ACME_NUMBER, ACME_TOKEN), (GLOBEX_NUMBER, GLOBEX_TOKEN)):
            created = await client.post(NUMBERS, json=body(sim, phone_number_id, token, f"verify-{phone_number_id}"),
                                        headers=org.auth)
            assert created.status_code == 201, created.text
        for i in range(20):  # numbers stored without a digest (as before migration 0002)
            await make_number(database, counting_box, org_id=org.id, base_url=sim.base_url,
                              phone_number_id=f"30{i:03d}")
        assert (await handshake(client, "warm-up")).status_code == 403  # fills the missing digests, once
        counting_box.decrypted = 0
        for token in ("verify-1090001", "verify-1090005", "verify", "wrong", "verify-1090001"):
            assert (await handshake(client, token)).status_code == (403 if token == "wrong" else 200)
        assert counting_box.decrypted == 0

    async def test_a_verify_token_no_key_opens_does_not_break_the_handshake(
        self, client: httpx.AsyncClient, database: Database, org: OrgHandle, sim: SimulatorServer
    ) -> None:
        assert (await client.post(NUMBERS, json=body(sim, ACME_NUMBER, ACME_TOKEN), headers=org.auth)).is_success
        foreign = SecretBox(Fernet.generate_key().decode())  # a row whose key was lost
        await make_number(database, foreign, org_id=org.id, base_url=sim.base_url, phone_number_id="1090009")
        assert (await handshake(client, "verify-me")).status_code == 200
        assert (await handshake(client, "wrong")).status_code == 403

    async def test_numbers_stored_before_the_digest_existed_are_found(
        self, app: FastAPI, client: httpx.AsyncClient, database: Database, org: OrgHandle
    ) -> None:
        await make_number(database, app.state.secret_box, org_id=org.id, base_url="http://127.0.0.1:9")
        assert await digests(database) == [None]
        assert (await handshake(client, "verify")).status_code == 200  # make_number's verify token
        assert (await digests(database))[0] is not None

    async def test_a_new_secret_key_keeps_the_handshake_working(
        self, client: httpx.AsyncClient, database: Database, org: OrgHandle, settings: Settings,
        sim: SimulatorServer,
    ) -> None:
        from herald.kit.crypto import secret_key_id

        assert (await client.post(NUMBERS, json=body(sim, ACME_NUMBER, ACME_TOKEN), headers=org.auth)).is_success
        rotated = settings.model_copy(update={"secret_key": "a-new-secret-key-" + "y" * 32})
        application = create_app(rotated, database)
        async with application.router.lifespan_context(application):
            transport = httpx.ASGITransport(app=application)
            async with httpx.AsyncClient(transport=transport, base_url="http://herald.test") as after:
                assert (await handshake(after, "verify-me")).status_code == 200
                assert (await handshake(after, "wrong")).status_code == 403
        (digest,) = await digests(database)
        assert digest is not None and digest.startswith(secret_key_id(rotated.secret_key) + ":")


class TestKeysAndMigration:
    def test_rotate_keys_recomputes_the_digests(
        self, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        from herald.auth import service as auth_service
        from herald.kit.crypto import secret_key_id

        new_secret_key = "the-next-secret-key-" + "z" * 32

        async def seed() -> None:
            database = Database.connect(db_url)
            try:
                async with database.session() as session:
                    organization = await auth_service.create_org(session, name="Rot", secret_key=TEST_SECRET_KEY)
                await make_number(database, SecretBox(TEST_FERNET_KEY), org_id=organization.id,
                                  base_url="http://127.0.0.1:9")
            finally:
                await database.dispose()

        async def read() -> list[str | None]:
            database = Database.connect(db_url)
            try:
                return await digests(database)
            finally:
                await database.dispose()

        asyncio.run(seed())
        monkeypatch.setenv("HERALD_DATABASE_URL", db_url)
        monkeypatch.setenv("HERALD_VAR_DIR", str(tmp_path / "var"))
        monkeypatch.setenv("HERALD_SECRET_KEY", new_secret_key)
        monkeypatch.setenv("HERALD_ENCRYPTION_KEYS", TEST_FERNET_KEY)
        get_settings.cache_clear()
        try:
            result = CliRunner().invoke(cli_app, ["rotate-keys"])
        finally:
            get_settings.cache_clear()
        assert result.exit_code == 0, result.output
        assert "verify_token_digests=1" in result.output
        (digest,) = asyncio.run(read())
        assert digest is not None and digest.startswith(secret_key_id(new_secret_key) + ":")

    async def test_migration_0002_adds_the_digest_and_forgets_what_bots_answered(
        self, app: FastAPI, client: httpx.AsyncClient, database: Database, db_url: str, org: OrgHandle
    ) -> None:
        box = app.state.secret_box
        number = await make_number(database, box, org_id=org.id, base_url="http://127.0.0.1:9")
        flow = await make_bot_flow(database, box, org_id=org.id)
        (contact,) = await make_contacts(database, org_id=org.id, specs=[{"phone": "+14155553000"}])
        campaign = await make_active_campaign(database, org_id=org.id, number_id=number, audience={"tags_any": ["x"]},
                                              variables={}, media_row_id=None, bot_flow_id=flow)
        async with database.session() as session:
            for last_error in ("the bot flow answered HTTP 500: AccessKeyId=ASIA-SECRET", "could not reach it"):
                session.add(BotDelivery(
                    org_id=org.id, bot_flow_id=flow, campaign_id=campaign, contact_id=contact,
                    delivery_id=uuid.uuid4().hex, body="{}", status="failed", attempts=1, next_attempt_at=utcnow(),
                    last_error=last_error,
                ))
        await database.engine.dispose()  # no pooled connection in the way of the schema change
        config = migrate.alembic_config(db_url)
        await asyncio.to_thread(command.downgrade, config, "0001")
        await asyncio.to_thread(command.upgrade, config, "head")

        assert await digests(database) == [None]
        async with database.read_session() as session:
            errors = (await session.execute(select(BotDelivery.last_error).order_by(BotDelivery.id))).scalars()
            assert list(errors) == ["the bot flow answered HTTP 500", "could not reach it"]
        assert (await handshake(client, "verify")).status_code == 200
