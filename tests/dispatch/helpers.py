"""Running a real worker against the simulator until a condition holds."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import httpx
from sqlalchemy import select

from herald.dispatch.worker import Worker
from herald.kit.crypto import SecretBox
from herald.kit.db import Database
from herald.models import CampaignMessage, CampaignStats
from herald.simulator import Scenario, SimulatorServer
from tests.conftest import LOOPBACK_ALLOWED
from tests.factories import graph_template

# The template "hello" of the simulators below: a body with the contact's name.
HELLO_BODY = [{"type": "BODY", "text": "Hello {{1}}"}]


@asynccontextmanager
async def running_worker(database: Database, box: SecretBox, *, database_thread: bool = False) -> AsyncIterator[Worker]:
    stop = asyncio.Event()
    worker = Worker(database=database, box=box, outbound=LOOPBACK_ALLOWED, database_thread=database_thread)
    task = asyncio.create_task(worker.run(stop))
    try:
        yield worker
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=30)


async def wait_until(check: Callable[[], Awaitable[bool]], *, timeout: float = 30, every: float = 0.1) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(every)
    raise AssertionError(f"condition not met within {timeout}s")


async def stats(database: Database, campaign_id: int) -> dict[str, int]:
    async with database.read_session() as session:
        row = (await session.execute(select(CampaignStats).where(CampaignStats.campaign_id == campaign_id))).scalar_one()
        return {f: getattr(row, f) for f in ("targeted", "pending", "sent", "received", "read", "replied", "unknown",
                                             "not_sent", "holdout")}


async def messages(database: Database, campaign_id: int) -> dict[int, CampaignMessage]:
    async with database.read_session() as session:
        rows = (await session.execute(select(CampaignMessage).where(CampaignMessage.campaign_id == campaign_id))).scalars()
        return {m.contact_id: m for m in rows}


async def done_sending(database: Database, campaign_id: int) -> bool:
    async with database.read_session() as session:
        row = (await session.execute(select(CampaignStats).where(CampaignStats.campaign_id == campaign_id))).scalar_one_or_none()
        from herald.models import Campaign
        campaign = await session.get(Campaign, campaign_id)
    return bool(row and campaign and campaign.materialized_at is not None and row.pending == 0)


def sim_messages(base_url: str) -> list[dict[str, Any]]:
    """Every send the simulator accepted."""
    items: list[dict[str, Any]] = []
    since = 0
    while True:
        page = httpx.get(f"{base_url}/_sim/messages", params={"since": since}).json()
        items.extend(page["messages"])
        if page["next"] >= page["total"] or not page["messages"]:
            return items
        since = page["next"]


@contextmanager
def hello_simulator() -> Iterator[SimulatorServer]:
    """A simulator with the approved template "hello" (``HELLO_BODY``), whose users neither read nor reply."""
    scenario = Scenario.model_validate({
        "templates": [graph_template("hello", components=HELLO_BODY)], "seed": 1,
        "read_probability": 0, "reply_probability": 0,
    })
    with SimulatorServer(scenario, webhook_url=None, app_secret="sim-secret") as sim:
        yield sim
