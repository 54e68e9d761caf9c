"""Live stats for any number of listeners at the cost of one read per campaign per second.

One hub per process (``app.state.stats_hub``). The first listener of a campaign starts a polling
task for it; each tick reads the stats once and hands the same body to every listener's queue;
the last listener to leave stops the task. A slow listener only ever misses intermediate ticks:
its queue holds one item, replaced by the newest.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

from fastapi import FastAPI

from herald.kit.db import Database
from herald.reports import service
from herald.reports.schemas import CampaignStatsOut

log = logging.getLogger(__name__)

StatsReader = Callable[[int], Awaitable[CampaignStatsOut | None]]
# Put on a listener's queue when the campaign is gone: its stream ends.
GONE = None


@dataclass
class _Feed:
    task: asyncio.Task[None] | None = None
    listeners: set[asyncio.Queue[CampaignStatsOut | None]] = field(default_factory=set)
    latest: CampaignStatsOut | None = None


def database_reader(database: Database) -> StatsReader:
    """Reads one campaign's stats in a short read session of its own."""

    async def read(campaign_id: int) -> CampaignStatsOut | None:
        async with database.read_session() as session:
            return await service.stats_of(session, campaign_id=campaign_id)

    return read


class StatsHub:
    """Fans one poll per campaign out to every listener of that campaign in this process."""

    def __init__(self, read: StatsReader, *, interval: float = 1.0) -> None:
        self._read = read
        self.interval = interval
        self._feeds: dict[int, _Feed] = {}
        self.reads = 0

    def listeners(self, campaign_id: int) -> int:
        feed = self._feeds.get(campaign_id)
        return len(feed.listeners) if feed else 0

    def polling(self, campaign_id: int) -> bool:
        feed = self._feeds.get(campaign_id)
        return bool(feed and feed.task and not feed.task.done())

    @contextlib.asynccontextmanager
    async def listen(self, campaign_id: int) -> AsyncIterator[AsyncIterator[CampaignStatsOut]]:
        """Yields the campaign's stats, about once per interval, until the block exits."""
        queue: asyncio.Queue[CampaignStatsOut | None] = asyncio.Queue(maxsize=1)
        feed = self._feeds.setdefault(campaign_id, _Feed())
        feed.listeners.add(queue)
        if feed.latest is not None:
            queue.put_nowait(feed.latest)
        if feed.task is None or feed.task.done():
            feed.task = asyncio.create_task(self._poll(campaign_id, feed), name=f"stats-hub-{campaign_id}")
        try:
            yield _drain(queue)
        finally:
            feed.listeners.discard(queue)
            if not feed.listeners:
                await self._stop(campaign_id, feed)

    async def close(self) -> None:
        for campaign_id, feed in list(self._feeds.items()):
            await self._stop(campaign_id, feed)

    async def _stop(self, campaign_id: int, feed: _Feed) -> None:
        if self._feeds.get(campaign_id) is feed:
            del self._feeds[campaign_id]
        if feed.task is not None and not feed.task.done():
            feed.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await feed.task

    async def _poll(self, campaign_id: int, feed: _Feed) -> None:
        while feed.listeners:
            self.reads += 1
            try:
                stats = await self._read(campaign_id)
            except Exception:
                # A failed read (database restarting) skips a tick; listeners keep the last body.
                log.exception("stats read failed for campaign %s", campaign_id)
            else:
                feed.latest = stats
                for queue in list(feed.listeners):
                    _offer(queue, stats)
                if stats is GONE:
                    return
            await asyncio.sleep(self.interval)


def _offer(queue: asyncio.Queue[CampaignStatsOut | None], stats: CampaignStatsOut | None) -> None:
    if queue.full():
        queue.get_nowait()
    queue.put_nowait(stats)


async def _drain(queue: asyncio.Queue[CampaignStatsOut | None]) -> AsyncIterator[CampaignStatsOut]:
    while True:
        stats = await queue.get()
        if stats is GONE:
            return
        yield stats


def get_hub(app: FastAPI) -> StatsHub:
    """The process's hub, which the app's lifespan creates and closes."""
    return app.state.stats_hub  # type: ignore[no-any-return]
