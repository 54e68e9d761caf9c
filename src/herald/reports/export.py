"""The campaign report CSV: one row per targeted contact, streamed page by page in constant memory.

Times are ISO 8601 UTC to the second, ``2026-11-27T10:00:00Z``, everywhere in the file (the
funnel steps' JSON included). Text cells get the formula-injection guard; ``phone`` is always
``+<digits>`` (E.164), so it is written as stored — a guard would prefix every phone with a quote.
The database formats each page (see ``export_repository``); this module pages and streams.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from herald.kit.db import Database
from herald.reports.export_repository import ReportPage, report_page

COLUMNS = (
    "contact_id", "phone", "name", "status", "error_msg", "sent_at", "delivered_at", "read_at", "replied_at",
    "wamid", "time_per_funnel_step",
)
HEADER = (",".join(COLUMNS) + "\r\n").encode()
# About 1 MB of CSV a page: few queries, and a chunk big enough that the response is cheap to send.
PAGE_SIZE = 10_000


def filename(campaign_id: int) -> str:
    return f"campaign-{campaign_id}-report.csv"


async def report_chunks(database: Database, *, campaign_id: int, page_size: int = PAGE_SIZE) -> AsyncIterator[bytes]:
    """The CSV, header first, one chunk per page of messages.

    Each page reads in a short session of its own: a slow download holds no connection and no
    long transaction (which on SQLite would keep the WAL from being checkpointed). The next page
    is read while the current one is sent, so the database and the socket work at once.
    """
    yield HEADER
    reading = asyncio.create_task(_read_page(database, campaign_id=campaign_id, after=0, limit=page_size))
    try:
        while True:
            page = await reading
            if not page.rows:
                return
            more = page.rows == page_size
            if more:
                reading = asyncio.create_task(
                    _read_page(database, campaign_id=campaign_id, after=page.last_contact_id, limit=page_size)
                )
            yield page.text.encode()
            if not more:
                return
    finally:
        # The client went away mid-download: do not leave a read running.
        reading.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reading


async def _read_page(database: Database, *, campaign_id: int, after: int, limit: int) -> ReportPage:
    async with database.read_session() as session:
        return await report_page(session, campaign_id=campaign_id, after_contact_id=after, limit=limit)
