"""A simulator with one known number, a helper registering that number in Herald through the API, and
a way to act while a request waits on WhatsApp."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text, update
from sqlalchemy.engine import make_url

from herald.kit.db import Database
from herald.models import ApiKey, Organization, WhatsAppNumber
from herald.simulator import SimulatorServer
from herald.whatsapp import CloudAPIClient, NumberCredentials, NumberInfo
from tests.conftest import OrgHandle

T = TypeVar("T")
SLOW_WHATSAPP_MS = 300
# How long `while_whatsapp_answers` holds WhatsApp's answer for `meanwhile` at most.
MEANWHILE_SECONDS = 10.0
ASKED, WROTE, ANSWERED = "whatsapp asked", "concurrent write committed", "whatsapp answered"

PHONE_NUMBER_ID = "1090001"
OTHER_PHONE_NUMBER_ID = "1090002"  # another number of the same WABA, readable with the same token
WABA_ID = "2090001"
# Distinctive strings so a leak is found by a plain substring search (responses, rows, file bytes).
ACCESS_TOKEN = "EAAG-access-token-PLAINTEXT-7f3a9c"
APP_SECRET = "app-secret-PLAINTEXT-51be02"
VERIFY_TOKEN = "verify-token-PLAINTEXT-c0ffee"


def sim_number(phone_number_id: str = PHONE_NUMBER_ID, throughput_mps: float = 1000) -> dict[str, Any]:
    return {
        "phone_number_id": phone_number_id,
        "waba_id": WABA_ID,
        "display_phone_number": "+1 555 000 0001",
        "access_token": ACCESS_TOKEN,
        "throughput_mps": throughput_mps,
        "messaging_limit_tier": "TIER_10K",
        "quality_rating": "GREEN",
    }


def scenario(templates: list[dict[str, Any]] | None = None, throughput_mps: float = 1000) -> dict[str, Any]:
    return {
        "phone_numbers": [sim_number(PHONE_NUMBER_ID, throughput_mps), sim_number(OTHER_PHONE_NUMBER_ID)],
        "templates": templates or [],
    }


def set_throughput(sim: SimulatorServer, throughput_mps: float) -> None:
    """The first number's throughput as WhatsApp reports it from now on."""
    sim.update_scenario(
        phone_numbers=[sim_number(PHONE_NUMBER_ID, throughput_mps), sim_number(OTHER_PHONE_NUMBER_ID)]
    )


# Moving a number (phone_number_id, graph_api_base) needs its secrets given again.
SECRETS_AGAIN = {"access_token": ACCESS_TOKEN, "app_secret": APP_SECRET}


def move_in_database(database: Database, number_id: int, **target: str) -> Callable[[], Awaitable[None]]:
    """Move a number (phone_number_id, graph_api_base) with one committed write, at once.

    A PATCH would ask WhatsApp first (as slowly as the request under test), so it could land too late.
    """

    async def move() -> None:
        async with database.session() as session:
            await session.execute(update(WhatsAppNumber).where(WhatsAppNumber.id == number_id).values(**target))

    return move


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


class WatchedCloudClient:
    """The app's own client, noting in `events` when a request asks WhatsApp and when WhatsApp answers."""

    def __init__(self, client: CloudAPIClient) -> None:
        self.client = client
        self.events: list[str] = []
        self.asked = asyncio.Event()
        # The next call's answer reaches the app only once ``answer`` is set (``while_whatsapp_answers``).
        self.hold_next = False
        self.answer = asyncio.Event()

    def __getattr__(self, name: str) -> Any:  # any other call: the app's client itself
        return getattr(self.client, name)

    async def _watched(self, call: Awaitable[T]) -> T:
        held, self.hold_next = self.hold_next, False
        self.events.append(ASKED)
        self.asked.set()
        try:
            result = await call
            if held:
                await self.answer.wait()
            return result
        finally:
            self.events.append(ANSWERED)

    async def get_number_info(self, creds: NumberCredentials) -> NumberInfo:
        return await self._watched(self.client.get_number_info(creds))

    async def list_templates(
        self, creds: NumberCredentials, page_size: int = 100, status: str | None = None
    ) -> list[dict[str, Any]]:
        return await self._watched(self.client.list_templates(creds, page_size, status))

    async def upload_media(self, creds: NumberCredentials, data: bytes, filename: str, mime_type: str) -> str:
        return await self._watched(self.client.upload_media(creds, data, filename, mime_type))


async def watch_whatsapp(app: FastAPI, sim: SimulatorServer) -> WatchedCloudClient:
    """Make WhatsApp slow and have the app call it through a `WatchedCloudClient`."""
    sim.update_scenario(latency_ms=SLOW_WHATSAPP_MS)
    watched = WatchedCloudClient(app.state.cloud_client)
    app.state.cloud_client = watched  # the app's own client underneath, which its lifespan closes
    return watched


async def while_whatsapp_answers(
    watched: WatchedCloudClient, request: Awaitable[httpx.Response], meanwhile: Callable[[], Awaitable[Any]],
    *, hold: bool = True,
) -> httpx.Response:
    """Send `request`; once it has asked WhatsApp, run `meanwhile` to the end, WhatsApp's answer held
    until then (however slow the machine, `meanwhile` happens while WhatsApp answers). Returns the response.

    `meanwhile` may wait for the request (a write behind a transaction the request wrongly holds open):
    the answer is then let through after `MEANWHILE_SECONDS`, and `watched.events` shows the order.
    `hold=False`: the answer comes when WhatsApp gives it (`SLOW_WHATSAPP_MS`), for a `meanwhile` that
    must finish after it."""
    watched.answer.clear()
    watched.hold_next = hold
    sent = asyncio.ensure_future(request)
    try:
        asked = asyncio.ensure_future(watched.asked.wait())
        await asyncio.wait([sent, asked], return_when=asyncio.FIRST_COMPLETED)
        asked.cancel()
        assert watched.asked.is_set(), "the request ended without asking WhatsApp"
        done = asyncio.ensure_future(meanwhile())
        await asyncio.wait([done], timeout=MEANWHILE_SECONDS)
    finally:
        watched.answer.set()
    await done
    return await sent


def write_in_another_session(
    database: Database, watched: WatchedCloudClient, org_id: int
) -> Callable[[], Awaitable[None]]:
    """A harmless write that waits for any transaction the request holds open; noted in the events once committed.

    On SQLite every write transaction takes the database lock. On PostgreSQL a row write does not wait
    for readers, so the write also locks the tables the requests read, which an open transaction holds.
    """

    async def write() -> None:
        async with database.session() as session:
            if database.dialect == "postgresql":
                tables = f"{ApiKey.__tablename__}, {WhatsAppNumber.__tablename__}"
                await session.execute(text(f"LOCK TABLE {tables} IN ACCESS EXCLUSIVE MODE"))
            await session.execute(
                update(Organization).where(Organization.id == org_id).values(name=Organization.name)
            )
        watched.events.append(WROTE)

    return write
