"""GET /campaigns/{id}/events (SSE) over real HTTP, and the hub's one read per campaign per tick."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from herald.auth.principal import Role
from herald.config import Settings
from herald.kit.db import Database
from herald.reports.hub import StatsHub, database_reader, get_hub
from herald.reports.schemas import CampaignStatsOut
from tests.conftest import OrgHandle
from tests.dispatch.helpers import wait_until
from tests.live import live_server
from tests.reports.helpers import add_messages, at, make_campaign


@asynccontextmanager
async def serving(app: FastAPI) -> AsyncIterator[str]:
    """The test's app behind a real HTTP server on this event loop, so its hub can be inspected."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    await wait_until(lambda: _started(server), timeout=10, every=0.02)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, timeout=20)
        sock.close()


async def _started(server: uvicorn.Server) -> bool:
    return server.started


class StatsEvents:
    """Reads the ``stats`` events of an SSE response, a few at a time."""

    def __init__(self, response: httpx.Response) -> None:
        self._lines = response.aiter_lines()

    async def take(self, count: int) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = []
        name = None
        async for line in self._lines:
            if line.startswith("event:"):
                name = line.partition(":")[2].strip()
            elif line.startswith("data:") and name == "stats":
                events.append(json.loads(line.partition(":")[2]))
                if len(events) == count:
                    return events
        raise AssertionError("the stream ended early")


@pytest.mark.server
@pytest.mark.slow
class TestEventsEndpoint:
    async def test_stream_sends_a_stats_event_every_second(
        self, settings: Settings, database: Database, org: OrgHandle
    ) -> None:
        campaign = await make_campaign(database, org_id=org.id)
        await add_messages(database, org_id=org.id, campaign_id=campaign,
                           specs=[{"phone": "+33610000001", "status": "pending"}])
        loop = asyncio.get_running_loop()
        with live_server(settings) as url:
            async with httpx.AsyncClient(base_url=url, timeout=10) as http, http.stream(
                "GET", f"/api/v1/campaigns/{campaign}/events", headers=org.headers(Role.viewer)
            ) as response:
                assert response.status_code == 200
                assert response.headers["content-type"].startswith("text/event-stream")
                started = loop.time()
                events = StatsEvents(response)
                first = await events.take(1)
                await add_messages(database, org_id=org.id, campaign_id=campaign, specs=[
                    {"phone": "+33610000002", "status": "delivered", "sent_at": at(0), "delivered_at": at(1)},
                ])
                later = await events.take(3)
                elapsed = loop.time() - started

        assert CampaignStatsOut.model_validate(first[0]).targeted == 1
        assert later[-1]["targeted"] == 2 and later[-1]["received_pct"] == 100.0
        # Four events a second apart: about three seconds.
        assert 2.5 <= elapsed <= 6, elapsed

    async def test_many_listeners_cost_one_read_per_second(
        self, app: FastAPI, database: Database, org: OrgHandle
    ) -> None:
        campaign = await make_campaign(database, org_id=org.id)
        hub = get_hub(app)
        async with serving(app) as url, httpx.AsyncClient(base_url=url, timeout=10) as http:

            async def listen() -> list[dict[str, Any]]:
                path = f"/api/v1/campaigns/{campaign}/events"
                async with http.stream("GET", path, headers=org.auth) as response:
                    return await StatsEvents(response).take(3)

            results = await asyncio.gather(listen(), listen(), listen())
            await wait_until(lambda: _stopped(hub, campaign), timeout=5)

        assert all(len(events) == 3 for events in results)
        # Three listeners × three events each, from about three reads: not nine.
        assert 3 <= hub.reads <= 5, hub.reads


async def _stopped(hub: StatsHub, campaign_id: int) -> bool:
    return not hub.polling(campaign_id) and hub.listeners(campaign_id) == 0


class TestStatsHub:
    async def test_one_poll_feeds_every_listener_and_stops_with_the_last(
        self, database: Database, org: OrgHandle
    ) -> None:
        campaign = await make_campaign(database, org_id=org.id)
        hub = StatsHub(database_reader(database), interval=0.05)

        async def take(n: int) -> int:
            async with hub.listen(campaign) as updates:
                seen = 0
                async for stats in updates:
                    assert stats.targeted == 0
                    seen += 1
                    if seen == n:
                        return seen
            return seen

        assert await asyncio.gather(take(10), take(10), take(10)) == [10, 10, 10]
        assert hub.reads <= 12, hub.reads
        assert not hub.polling(campaign) and hub.listeners(campaign) == 0
        reads = hub.reads
        await asyncio.sleep(0.2)
        assert hub.reads == reads
        assert await take(2) == 2
        assert hub.reads > reads

    async def test_listeners_of_a_deleted_campaign_are_released(self) -> None:
        gone: set[int] = set()

        async def read(campaign_id: int) -> CampaignStatsOut | None:
            if campaign_id in gone:
                return None
            return CampaignStatsOut(targeted=1, pending=1, sent=0, received=0, read=0, replied=0, unknown=0,
                                    not_sent=0, received_pct=0, read_pct=0, replied_pct=0)

        hub = StatsHub(read, interval=0.02)
        async with hub.listen(7) as updates:
            seen = 0
            async for _ in updates:
                seen += 1
                gone.add(7)
        assert seen == 1
        await hub.close()
