"""/api/v1/event-endpoints: admins only, secrets write-only, URLs under the outbound URL policy."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from herald.app import create_app
from herald.auth.principal import Role
from herald.config import Settings
from herald.kit.db import Database
from herald.models import EventOutbox
from tests.conftest import OrgHandle

ENDPOINTS = "/api/v1/event-endpoints"
SECRET = "a-long-enough-secret-123"


def body(**changes: object) -> dict[str, object]:
    return {"url": "https://hooks.example.com/herald", "secret": SECRET,
            "event_types": ["message.delivered", "campaign.started"], "description": "CRM", **changes}


class TestSecrets:
    async def test_secret_is_never_returned(self, client: httpx.AsyncClient, org: OrgHandle) -> None:
        created = await client.post(ENDPOINTS, json=body(), headers=org.auth)
        assert created.status_code == 201, created.text
        path = f"{ENDPOINTS}/{created.json()['id']}"
        answers = [created, await client.get(path, headers=org.auth), await client.get(ENDPOINTS, headers=org.auth),
                   await client.patch(path, json={"description": "renamed"}, headers=org.auth)]
        for answer in answers:
            assert answer.status_code == 200 or answer.status_code == 201
            assert SECRET not in answer.text
            assert "secret_enc" not in answer.text
        assert created.json()["has_secret"] is True

    async def test_changing_the_url_needs_the_secret_again(self, client: httpx.AsyncClient, org: OrgHandle) -> None:
        path = f"{ENDPOINTS}/{(await client.post(ENDPOINTS, json=body(), headers=org.auth)).json()['id']}"
        refused = await client.patch(path, json={"url": "https://elsewhere.example.com/x"}, headers=org.auth)
        assert refused.status_code == 422
        assert refused.json()["error"]["details"][0]["field"] == "secret"
        moved = await client.patch(path, json={"url": "https://elsewhere.example.com/x", "secret": "another-secret-4567"},
                                   headers=org.auth)
        assert moved.status_code == 200
        assert moved.json()["url"] == "https://elsewhere.example.com/x"


class TestValidation:
    async def test_unknown_event_type_names_the_field(self, client: httpx.AsyncClient, org: OrgHandle) -> None:
        answer = await client.post(ENDPOINTS, json=body(event_types=["message.exploded"]), headers=org.auth)
        assert answer.status_code == 422
        assert answer.json()["error"]["details"][0]["field"] == "event_types"

    async def test_metadata_address_is_refused(self, client: httpx.AsyncClient, org: OrgHandle) -> None:
        answer = await client.post(ENDPOINTS, json=body(url="http://169.254.169.254/latest"), headers=org.auth)
        assert answer.status_code == 422
        assert answer.json()["error"]["details"][0]["field"] == "url"


@pytest.fixture
async def strict_client(settings: Settings, database: Database) -> AsyncIterator[httpx.AsyncClient]:
    """Herald as deployed by default: HERALD_ALLOW_PRIVATE_URLS unset."""
    application: FastAPI = create_app(settings.model_copy(update={"allow_private_urls": False}), database)
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://herald.test") as http:
            yield http


class TestOutboundPolicy:
    @pytest.mark.parametrize("url", ["http://127.0.0.1:8080/hook", "http://localhost/hook", "https://10.0.0.5/hook"])
    async def test_private_urls_are_refused_without_the_allow_setting(
        self, strict_client: httpx.AsyncClient, org: OrgHandle, url: str
    ) -> None:
        answer = await strict_client.post(ENDPOINTS, json=body(url=url), headers=org.auth)
        assert answer.status_code == 422
        assert answer.json()["error"]["details"][0]["field"] == "url"
        assert "HERALD_ALLOW_PRIVATE_URLS" in answer.json()["error"]["message"]

    async def test_plain_http_to_a_public_host_is_refused(self, client: httpx.AsyncClient, org: OrgHandle) -> None:
        answer = await client.post(ENDPOINTS, json=body(url="http://hooks.example.com/x"), headers=org.auth)
        assert answer.status_code == 422


class TestRoles:
    @pytest.mark.parametrize("role", [Role.viewer, Role.editor])
    async def test_only_admins_see_or_change_endpoints(self, client: httpx.AsyncClient, org: OrgHandle, role: Role) -> None:
        path = f"{ENDPOINTS}/{(await client.post(ENDPOINTS, json=body(), headers=org.auth)).json()['id']}"
        headers = org.headers(role)
        assert (await client.get(ENDPOINTS, headers=headers)).status_code == 403
        assert (await client.post(ENDPOINTS, json=body(), headers=headers)).status_code == 403
        assert (await client.get(path, headers=headers)).status_code == 403
        assert (await client.patch(path, json={"description": "x"}, headers=headers)).status_code == 403
        assert (await client.delete(path, headers=headers)).status_code == 403
        assert (await client.post(f"{path}/test", headers=headers)).status_code == 403
        assert (await client.get(f"{path}/deliveries", headers=headers)).status_code == 403

    async def test_another_organization_cannot_see_it(
        self, client: httpx.AsyncClient, org: OrgHandle, other_org: OrgHandle
    ) -> None:
        path = f"{ENDPOINTS}/{(await client.post(ENDPOINTS, json=body(), headers=org.auth)).json()['id']}"
        assert (await client.get(path, headers=other_org.auth)).status_code == 404
        assert (await client.get(f"{path}/deliveries", headers=other_org.auth)).status_code == 404
        assert (await client.get(ENDPOINTS, headers=other_org.auth)).json()["items"] == []


class TestLifecycle:
    async def test_deleted_endpoint_is_gone_and_its_waiting_events_dropped(
        self, client: httpx.AsyncClient, database: Database, org: OrgHandle
    ) -> None:
        path = f"{ENDPOINTS}/{(await client.post(ENDPOINTS, json=body(), headers=org.auth)).json()['id']}"
        assert (await client.post(f"{path}/test", headers=org.auth)).status_code == 202
        assert (await client.delete(path, headers=org.auth)).status_code == 204
        assert (await client.get(path, headers=org.auth)).status_code == 404
        assert (await client.get(ENDPOINTS, headers=org.auth)).json()["items"] == []
        async with database.read_session() as session:
            assert await session.scalar(select(func.count()).select_from(EventOutbox)) == 0
