from __future__ import annotations

from typing import Any

import httpx
import pytest

from herald.kit.db import Database
from tests.conftest import OrgHandle
from tests.factories import World, make_world

BASE = "/api/v1/campaigns"


@pytest.fixture
async def world(database: Database, org: OrgHandle) -> World:
    return await make_world(database, org.id)


async def create(client: httpx.AsyncClient, org: OrgHandle, body: dict[str, Any]) -> dict[str, Any]:
    response = await client.post(BASE, json=body, headers=org.auth)
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


async def act(client: httpx.AsyncClient, org: OrgHandle, campaign_id: int, action: str, **body: Any) -> httpx.Response:
    return await client.post(f"{BASE}/{campaign_id}/{action}", json=body or None, headers=org.auth)


def error_fields(response: httpx.Response) -> list[str]:
    details = response.json()["error"]["details"] or []
    return [d["field"] for d in details]
