from __future__ import annotations

import httpx
from sqlalchemy import select

from herald.auth.principal import Role
from herald.kit.db import Database
from herald.models import ApiKey
from tests.conftest import OrgHandle


class TestApiKeyAuthentication:
    async def test_missing_key_is_401_in_contract_shape(self, client: httpx.AsyncClient, org: OrgHandle) -> None:
        response = await client.get("/api/v1/me")
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "missing_api_key"

    async def test_wrong_key_is_401(self, client: httpx.AsyncClient, org: OrgHandle) -> None:
        response = await client.get("/api/v1/me", headers={"Authorization": "Bearer hrld_nope"})
        assert response.status_code == 401
        assert set(response.json()["error"]) == {"code", "message", "details"}

    async def test_key_resolves_to_its_org_and_role(self, client: httpx.AsyncClient, org: OrgHandle) -> None:
        response = await client.get("/api/v1/me", headers=org.headers(Role.viewer))
        assert response.json() == {"org_id": org.id, "role": "viewer"}

    async def test_only_an_hmac_is_stored_and_last_use_recorded(
        self, client: httpx.AsyncClient, org: OrgHandle, database: Database
    ) -> None:
        await client.get("/api/v1/me", headers=org.auth)
        async with database.session() as session:
            rows = (await session.execute(select(ApiKey).where(ApiKey.org_id == org.id))).scalars().all()
        stored = {r.digest for r in rows} | {r.prefix for r in rows}
        assert org.keys[Role.admin] not in stored
        admin_row = next(r for r in rows if r.role == "admin")
        assert admin_row.last_used_at is not None

    async def test_revoked_key_is_refused_at_once(self, client: httpx.AsyncClient, org: OrgHandle) -> None:
        created = await client.post("/api/v1/api-keys", json={"name": "ci", "role": "editor"}, headers=org.auth)
        assert created.status_code == 201
        key = created.json()["key"]
        assert (await client.get("/api/v1/me", headers={"Authorization": f"Bearer {key}"})).status_code == 200
        revoked = await client.post(f"/api/v1/api-keys/{created.json()['id']}/revoke", headers=org.auth)
        assert revoked.json()["revoked_at"] is not None
        assert (await client.get("/api/v1/me", headers={"Authorization": f"Bearer {key}"})).status_code == 401

    async def test_non_admin_cannot_create_keys(self, client: httpx.AsyncClient, org: OrgHandle) -> None:
        response = await client.post("/api/v1/api-keys", json={"name": "x"}, headers=org.headers(Role.editor))
        assert response.status_code == 403

    async def test_another_orgs_key_cannot_be_revoked(
        self, client: httpx.AsyncClient, org: OrgHandle, other_org: OrgHandle
    ) -> None:
        theirs = await client.get("/api/v1/api-keys", headers=other_org.auth)
        their_id = theirs.json()[0]["id"]
        response = await client.post(f"/api/v1/api-keys/{their_id}/revoke", headers=org.auth)
        assert response.status_code == 404
