"""A simulator with one known number, and a helper registering that number in Herald through the API."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import make_url

from herald.simulator import SimulatorServer
from tests.conftest import OrgHandle

PHONE_NUMBER_ID = "1090001"
WABA_ID = "2090001"
# Distinctive strings so a leak is found by a plain substring search (responses, rows, file bytes).
ACCESS_TOKEN = "EAAG-access-token-PLAINTEXT-7f3a9c"
APP_SECRET = "app-secret-PLAINTEXT-51be02"
VERIFY_TOKEN = "verify-token-PLAINTEXT-c0ffee"


def scenario(templates: list[dict[str, Any]] | None = None, throughput_mps: float = 1000) -> dict[str, Any]:
    return {
        "phone_numbers": [
            {
                "phone_number_id": PHONE_NUMBER_ID,
                "waba_id": WABA_ID,
                "display_phone_number": "+1 555 000 0001",
                "access_token": ACCESS_TOKEN,
                "throughput_mps": throughput_mps,
                "messaging_limit_tier": "TIER_10K",
                "quality_rating": "GREEN",
            }
        ],
        "templates": templates or [],
    }


@pytest.fixture
def sim() -> Iterator[SimulatorServer]:
    with SimulatorServer(scenario(), webhook_url=None, app_secret="s") as server:
        yield server


def number_body(base_url: str, **overrides: Any) -> dict[str, Any]:
    body = {
        "display_phone_number": "+1 555 000 0001",
        "phone_number_id": PHONE_NUMBER_ID,
        "waba_id": WABA_ID,
        "access_token": ACCESS_TOKEN,
        "app_secret": APP_SECRET,
        "verify_token": VERIFY_TOKEN,
        "graph_api_base": base_url,
    }
    body.update(overrides)
    return body


async def register_number(client: httpx.AsyncClient, org: OrgHandle, base_url: str, **overrides: Any) -> dict[str, Any]:
    response = await client.post("/api/v1/whatsapp-numbers", json=number_body(base_url, **overrides), headers=org.auth)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def sim_media_count(sim: SimulatorServer) -> int:
    return sim.call(lambda: len(sim.state.media.items))


def sqlite_files(database_url: str) -> list[Path]:
    """The database file and its WAL/journal companions, where rows may still sit before a checkpoint."""
    if not database_url.startswith("sqlite"):
        return []
    path = Path(str(make_url(database_url).database))
    return [p for p in (path, Path(f"{path}-wal"), Path(f"{path}-journal")) if p.exists()]


def field_names(response: httpx.Response) -> set[str]:
    return {d["field"] for d in response.json()["error"]["details"] or ()}
