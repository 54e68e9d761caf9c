"""Secrets stay secret: API keys stop working the moment they are revoked, and no access token,
app secret, bot secret or API key ever reaches the logs of a full run."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import httpx
import pytest
from fastapi import FastAPI

from herald.auth.principal import Role
from herald.kit.db import Database
from herald.simulator import Scenario, SimulatorServer
from tests.conftest import OrgHandle
from tests.dispatch.helpers import done_sending, running_worker, wait_until
from tests.factories import graph_template
from tests.numbers.helpers import ACCESS_TOKEN, APP_SECRET, VERIFY_TOKEN, number_body, scenario

BOT_SECRET = "bot-secret-PLAINTEXT-9d41aa"


@pytest.fixture
def simulator() -> Iterator[SimulatorServer]:
    spec = scenario(templates=[graph_template()])
    spec.update({"read_probability": 0, "reply_probability": 0, "seed": 3})
    with SimulatorServer(Scenario.model_validate(spec), webhook_url=None, app_secret=APP_SECRET) as sim:
        yield sim


class TestApiKeyRevocation:
    async def test_a_revoked_key_fails_on_the_very_next_request_on_every_route(
        self, client: httpx.AsyncClient, org: OrgHandle
    ) -> None:
        created = (await client.post("/api/v1/api-keys", json={"name": "ci", "role": "admin"}, headers=org.auth)).json()
        key = {"Authorization": f"Bearer {created['key']}"}
        assert (await client.get("/api/v1/contacts", headers=key)).status_code == 200
        await client.post(f"/api/v1/api-keys/{created['id']}/revoke", headers=org.auth)
        for method, path in [("GET", "/api/v1/contacts"), ("POST", "/api/v1/contacts"), ("GET", "/api/v1/me"),
                             ("POST", "/api/v1/api-keys"), ("GET", "/api/v1/campaigns")]:
            response = await client.request(method, path, json={"phone": "+33612345678"}, headers=key)
            assert response.status_code == 401, (method, path, response.text)
            assert set(response.json()["error"]) == {"code", "message", "details"}

    async def test_a_key_revoked_with_its_own_credentials_stops_at_once(
        self, client: httpx.AsyncClient, org: OrgHandle
    ) -> None:
        created = (await client.post("/api/v1/api-keys", json={"name": "self", "role": "admin"}, headers=org.auth)).json()
        key = {"Authorization": f"Bearer {created['key']}"}
        assert (await client.post(f"/api/v1/api-keys/{created['id']}/revoke", headers=key)).status_code == 200
        assert (await client.get("/api/v1/me", headers=key)).status_code == 401


class TestNoSecretsInLogs:
    @pytest.mark.slow
    async def test_a_whole_run_logs_no_token_secret_or_key(
        self, app: FastAPI, client: httpx.AsyncClient, database: Database, org: OrgHandle,
        simulator: SimulatorServer, caplog: pytest.LogCaptureFixture,
    ) -> None:
        caplog.set_level(logging.DEBUG)
        auth = org.auth
        number = await client.post("/api/v1/whatsapp-numbers", json=number_body(simulator.base_url), headers=auth)
        assert number.status_code == 201, number.text
        number_id = number.json()["id"]
        assert (await client.post(f"/api/v1/whatsapp-numbers/{number_id}/sync-templates", headers=auth)).is_success
        media = await client.post(f"/api/v1/whatsapp-numbers/{number_id}/media", headers=auth,
                                  files={"file": ("b.png", b"\x89PNG\r\n\x1a\n" + b"0" * 64, "image/png")})
        assert media.status_code in (200, 201), media.text
        bot = await client.post("/api/v1/bot-flows", headers=auth, json={
            "name": "bot", "webhook_url": "http://127.0.0.1:9/bot", "secret": BOT_SECRET})
        assert bot.status_code == 201, bot.text
        new_key = (await client.post("/api/v1/api-keys", json={"name": "x", "role": "editor"}, headers=auth)).json()
        for i in range(3):
            await client.post("/api/v1/contacts", headers=auth,
                              json={"phone": f"+3361234560{i}", "name": f"C{i}", "tags": ["vip"]})
        campaign = await client.post("/api/v1/campaigns", headers=auth, json={
            "name": "Leak check", "whatsapp_number_id": number_id, "audience": {"tags_any": ["vip"]},
            "template": {"name": "promo", "language": "en_US"},
            "variables": {str(i): {"source": "text", "value": "x"} for i in (1, 2, 3)},
            "header_media_id": media.json()["id"], "bot_flow_id": bot.json()["id"],
        })
        assert campaign.json()["status"] == "ready", campaign.text
        campaign_id = campaign.json()["id"]
        assert (await client.post(f"/api/v1/campaigns/{campaign_id}/start", headers=auth)).is_success
        async with running_worker(database, app.state.secret_box):
            await wait_until(lambda: done_sending(database, campaign_id))
        # Failures log too: a wrong token (the Graph API refuses it), a wrong key, a bad webhook signature.
        await client.patch(f"/api/v1/whatsapp-numbers/{number_id}", headers=auth,
                           json={"access_token": ACCESS_TOKEN + "-wrong"})
        await client.post(f"/api/v1/whatsapp-numbers/{number_id}/refresh", headers=auth)
        await client.get("/api/v1/me", headers={"Authorization": f"Bearer {new_key['key']}x"})
        await client.post("/webhooks/whatsapp", content=b"{}", headers={"x-hub-signature-256": "sha256=00"})

        logged = "\n".join(
            f"{r.getMessage()} {r.args!r} {r.exc_text or ''} {getattr(r, '__dict__', {})!r}" for r in caplog.records
        )
        assert caplog.records, "nothing was logged: the check would prove nothing"
        secrets = [ACCESS_TOKEN, APP_SECRET, VERIFY_TOKEN, BOT_SECRET, new_key["key"], *org.keys.values()]
        for secret in secrets:
            assert secret not in logged
        assert org.keys[Role.admin][:12] not in logged  # not even a prefix long enough to matter
