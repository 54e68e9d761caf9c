"""The campaign report CSV: one row per targeted contact, streamed page by page in constant memory.

Times are ISO 8601 UTC to the second, ``2026-11-27T10:00:00Z``, everywhere in the file (the
funnel steps' JSON included). Text cells get the formula-injection guard; ``phone`` is always
``+<digits>`` (E.164), so it is written as stored — a guard would prefix every phone with a quote.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime

import orjson
from sqlalchemy.ext.asyncio import AsyncSession

from herald.kit.csv import CsvChunkWriter, guard_cell
from herald.kit.db import Database
from herald.reports import repository
from herald.reports.repository import ReportRow

COLUMNS = (
    "contact_id", "phone", "name", "status", "error_msg", "sent_at", "delivered_at", "read_at", "replied_at",
    "wamid", "time_per_funnel_step",
)
PAGE_SIZE = 2_000
# A delivered, read, sent or pending message may still carry the text of a retried error: not its outcome.
ERROR_SHOWN = frozenset({"failed", "not_sent", "unknown"})
ISO_UTC = "%Y-%m-%dT%H:%M:%SZ"


def filename(campaign_id: int) -> str:
    return f"campaign-{campaign_id}-report.csv"


async def report_chunks(database: Database, *, campaign_id: int, page_size: int = PAGE_SIZE) -> AsyncIterator[bytes]:
    """The CSV, header first, one chunk per page of messages.

    Each page reads in a short session of its own: a slow download holds no connection and no
    long transaction (which on SQLite would keep the WAL from being checkpointed). The next page
    is read while the current one is formatted, so the database and Python work at once.
    """
    writer = CsvChunkWriter()
    yield writer.header(COLUMNS)
    reading = asyncio.create_task(_read_page(database, campaign_id=campaign_id, after=0, limit=page_size))
    try:
        while True:
            page, steps = await reading
            if not page:
                return
            more = len(page) == page_size
            if more:
                reading = asyncio.create_task(
                    _read_page(database, campaign_id=campaign_id, after=page[-1].contact_id, limit=page_size)
                )
                await asyncio.sleep(0)
            yield writer.chunk(report_row(row, steps.get(row.contact_id)) for row in page)
            if not more:
                return
    finally:
        # The client went away mid-download: do not leave a read running.
        reading.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reading


async def _read_page(
    database: Database, *, campaign_id: int, after: int, limit: int
) -> tuple[list[ReportRow], dict[int, dict[str, datetime]]]:
    async with database.read_session() as session:
        page = await repository.export_page(session, campaign_id=campaign_id, after_contact_id=after, limit=limit)
        if not page:
            return page, {}
        return page, await _funnel_steps(session, campaign_id=campaign_id, page=page)


async def _funnel_steps(
    session: AsyncSession, *, campaign_id: int, page: list[ReportRow]
) -> dict[int, dict[str, datetime]]:
    steps: dict[int, dict[str, datetime]] = defaultdict(dict)
    for contact_id, step, at in await repository.funnel_steps_between(
        session, campaign_id=campaign_id, first_contact_id=page[0].contact_id, last_contact_id=page[-1].contact_id
    ):
        steps[contact_id][step] = at
    return steps


def report_row(row: ReportRow, steps: dict[str, datetime] | None) -> Sequence[object]:
    contact_id, phone, name, status, error, sent_at, delivered_at, read_at, replied_at, wamid = row
    return (
        contact_id, phone, guard_cell(name), status,  # a status is one of a fixed set of words
        guard_cell(error) if status in ERROR_SHOWN else "",
        sent_at, delivered_at, read_at, replied_at, guard_cell(wamid), funnel_json(steps),
    )


def funnel_json(steps: dict[str, datetime] | None) -> str:
    if not steps:
        return "{}"
    return orjson.dumps({step: at.astimezone(UTC).strftime(ISO_UTC) for step, at in steps.items()}).decode()
