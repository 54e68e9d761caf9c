"""The campaign report CSV: one row per targeted contact, streamed page by page in constant memory.

Times are ISO 8601 UTC to the second, ``2026-11-27T10:00:00Z``, everywhere in the file (the
funnel steps' JSON included). Text cells get the formula-injection guard; ``phone`` is always
``+<digits>`` (E.164), so it is written as stored — a guard would prefix every phone with a quote.
A contact known only by its WhatsApp user id has an empty ``phone`` and its id in ``wa_user_id``.
The database formats each page (see ``export_repository``); this module pages and streams.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import AsyncIterator

from fastapi.responses import StreamingResponse

from herald.kit.db import Database
from herald.reports import export_repository
from herald.reports.subsets import Subset

COLUMNS = (
    "contact_id", "phone", "name", "status", "error_msg", "sent_at", "delivered_at", "read_at", "replied_at",
    "wamid", "time_per_funnel_step",
    # Added after the contract's columns (docs/architecture.md, "Report CSV").
    "wa_user_id", "attempts", "last_error", "waiting", "pricing_category", "price", "variant",
)
HEADER = (",".join(COLUMNS) + "\r\n").encode()
# About 1 MB of CSV a page: few queries, and a chunk big enough that the response is cheap to send.
PAGE_SIZE = 10_000
# Pages formatted at once, each by its own connection: the formatting is the database's CPU work,
# and two pages keep two cores busy. On SQLite that needs ``herald.kit.db`` to have turned SQLite's
# memory statistics off: with them on, the two reader threads contended on one mutex and took more
# CPU than one reader alone. Memory: this many pages of text, whatever the campaign's size.
READ_AHEAD = 2


def filename(campaign_id: int, subset: Subset | None = None) -> str:
    if subset is not None and not subset.everyone:
        return f"campaign-{campaign_id}-contacts.csv"
    return f"campaign-{campaign_id}-report.csv"


def response(database: Database, *, campaign_id: int, subset: Subset | None = None) -> StreamingResponse:
    """The streamed CSV as a download, for the API and the UI (the caller checked the campaign's org)."""
    return StreamingResponse(
        report_chunks(database, campaign_id=campaign_id, subset=subset), media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename(campaign_id, subset)}"'},
    )


async def report_chunks(
    database: Database, *, campaign_id: int, page_size: int = PAGE_SIZE, subset: Subset | None = None
) -> AsyncIterator[bytes]:
    """The CSV, header first, one chunk per page of messages, in contact id order; with a subset, only
    its contacts (``subsets.py``), in the same columns.

    Each read is a short session of its own: a slow download holds no connection and no long
    transaction (which on SQLite would keep the WAL from being checkpointed). Page bounds come
    first from a cheap index-only read; the next pages are formatted while the current one is
    sent, so the database and the socket work at once.
    """
    yield HEADER
    reading: deque[asyncio.Task[bytes]] = deque()
    after, more = 0, True

    async def read_ahead() -> None:
        nonlocal after, more
        while more and len(reading) < READ_AHEAD:
            rows, last = await _page_end(database, campaign_id=campaign_id, after=after, limit=page_size, subset=subset)
            more = rows == page_size
            if rows:
                reading.append(asyncio.create_task(
                    _page_text(database, campaign_id=campaign_id, after=after, last=last, subset=subset)))
                after = last

    try:
        await read_ahead()
        while reading:
            page = await reading.popleft()
            # Start the next page before this one goes out: sending waits on the client.
            await read_ahead()
            yield page
    finally:
        # The client went away mid-download: do not leave a read running.
        for task in reading:
            task.cancel()
        for task in reading:
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def _page_end(database: Database, *, campaign_id: int, after: int, limit: int,
                    subset: Subset | None) -> tuple[int, int]:
    async with database.read_session() as session:
        return await export_repository.page_end(
            session, campaign_id=campaign_id, after_contact_id=after, limit=limit, subset=subset)


async def _page_text(database: Database, *, campaign_id: int, after: int, last: int, subset: Subset | None) -> bytes:
    async with database.read_session() as session:
        return await export_repository.page_text(
            session, campaign_id=campaign_id, after_contact_id=after, last_contact_id=last, subset=subset
        )
