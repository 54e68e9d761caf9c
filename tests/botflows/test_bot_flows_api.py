from __future__ import annotations

import httpx
import pytest
from sqlalchemy import text

from herald.auth.principal import Role
from herald.config import Settings
from herald.kit.crypto import SecretBox
from herald.kit.db import Database
from herald.models import BotFlow
from tests.conftest import OrgHandle

BOT_FLOWS = "/api/v1/bot-flows"
SECRET = "bot-signing-secret-PLAINTEXT-9d41"


async def create(client: httpx.AsyncClient, org: OrgHandle, url: str = "https://bots.example.com/hook") -> httpx.Response:
    return await client.post(BOT_FLOWS, json={"name": "Sales bot", "webhook_url": url, "secret": SECRET}, headers=org.auth)


def field_names(response: httpx.Response) -> set[str]:
    return {d["field"] for d in response.json()["error"]["details"] or ()}


class TestWebhookUrl:
    @pytest.mark.parametrize(
        "url",
        [
            "https://bots.example.com/hook",
            "https://203.0.113.7:8443/x",
            "http://localhost:8080/hook",
            "http://127.0.0.1:9000/hook",
            "http://[::1]:9000/hook",
            "http://10.1.2.3/hook",
            "http://172.16.0.1/hook",
            "http://172.31.255.254/hook",
            "http://192.168.1.20:5000/hook",
        ],
    )
    async def test_accepted(self, client: httpx.AsyncClient, org: OrgHandle, url: str) -> None:
        response = await create(client, org, url)
        assert response.status_code == 201, response.text
        assert response.json()["webhook_url"] == url

    @pytest.mark.parametrize(
        "url",
        [
            "http://bots.example.com/hook",
            "http://8.8.8.8/hook",  # a public address (203.0.113.0/24 is documentation: not global)
            "http://172.32.0.1/hook",
            "http://192.169.0.1/hook",
            "ftp://bots.example.com/hook",
            "bots.example.com/hook",
            "https://user:pw@bots.example.com/hook",
            "https:///nohost",
        ],
    )
    async def test_refused_naming_the_field(self, client: httpx.AsyncClient, org: OrgHandle, url: str) -> None:
        response = await create(client, org, url)
        assert response.status_code == 422
        assert field_names(response) == {"webhook_url"}
        assert "webhook_url" in response.json()["error"]["message"]

    async def test_patch_checks_the_url_too(self, client: httpx.AsyncClient, org: OrgHandle) -> None:
        bot_flow = (await create(client, org)).json()
        response = await client.patch(
            f"{BOT_FLOWS}/{bot_flow['id']}", json={"webhook_url": "http://bots.example.com"}, headers=org.auth
        )
        assert response.status_code == 422 and field_names(response) == {"webhook_url"}


class TestCrud:
    async def test_create_list_get_patch_delete(self, client: httpx.AsyncClient, org: OrgHandle) -> None:
        bot_flow = (await create(client, org)).json()
        assert bot_flow["has_secret"] is True and bot_flow["name"] == "Sales bot"
        listed = await client.get(BOT_FLOWS, headers=org.headers(Role.viewer))
        assert [b["id"] for b in listed.json()["items"]] == [bot_flow["id"]]
        path = f"{BOT_FLOWS}/{bot_flow['id']}"
        patched = await client.patch(path, json={"name": "Support bot"}, headers=org.auth)
        assert patched.json()["name"] == "Support bot"
        assert patched.json()["webhook_url"] == "https://bots.example.com/hook"
        assert (await client.get(path, headers=org.auth)).json()["name"] == "Support bot"
        assert (await client.delete(path, headers=org.auth)).status_code == 204
        assert (await client.get(path, headers=org.auth)).status_code == 404

    async def test_secret_is_write_only_and_replaceable(
        self, client: httpx.AsyncClient, org: OrgHandle, database: Database, settings: Settings
    ) -> None:
        created = await create(client, org)
        path = f"{BOT_FLOWS}/{created.json()['id']}"
        responses = [
            created,
            await client.get(BOT_FLOWS, headers=org.auth),
            await client.get(path, headers=org.auth),
            await client.patch(path, json={"name": "renamed"}, headers=org.auth),
        ]
        assert all(SECRET not in r.text for r in responses)
        box = SecretBox(settings.encryption_keys)
        async with database.session() as session:
            stored = await session.get(BotFlow, created.json()["id"])
            assert stored is not None and box.decrypt(stored.secret_enc) == SECRET
        await client.patch(path, json={"secret": "rotated-secret"}, headers=org.auth)
        async with database.session() as session:
            stored = await session.get(BotFlow, created.json()["id"])
            assert stored is not None and box.decrypt(stored.secret_enc) == "rotated-secret"

    async def test_secret_is_unreadable_in_the_database(
        self, client: httpx.AsyncClient, org: OrgHandle, database: Database
    ) -> None:
        await create(client, org)
        async with database.session() as session:
            row = (await session.execute(text("SELECT * FROM bot_flows"))).one()
        assert SECRET not in " ".join(str(v) for v in row)


class TestTenantsAndRoles:
    async def test_another_orgs_bot_flow_is_404(
        self, client: httpx.AsyncClient, org: OrgHandle, other_org: OrgHandle
    ) -> None:
        bot_flow = (await create(client, org)).json()
        path = f"{BOT_FLOWS}/{bot_flow['id']}"
        h = other_org.auth
        assert (await client.get(path, headers=h)).status_code == 404
        assert (await client.patch(path, json={"name": "x"}, headers=h)).status_code == 404
        assert (await client.delete(path, headers=h)).status_code == 404
        assert (await client.get(BOT_FLOWS, headers=h)).json()["items"] == []
        assert (await client.get(path, headers=org.auth)).json()["name"] == "Sales bot"

    async def test_viewer_may_read_but_not_change(self, client: httpx.AsyncClient, org: OrgHandle) -> None:
        bot_flow = (await create(client, org)).json()
        path = f"{BOT_FLOWS}/{bot_flow['id']}"
        viewer = org.headers(Role.viewer)
        assert (await client.get(path, headers=viewer)).status_code == 200
        body = {"name": "x", "webhook_url": "https://bots.example.com", "secret": "s"}
        assert (await client.post(BOT_FLOWS, json=body, headers=viewer)).status_code == 403
        assert (await client.patch(path, json={"name": "x"}, headers=viewer)).status_code == 403
        assert (await client.delete(path, headers=viewer)).status_code == 403
