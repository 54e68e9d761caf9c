"""The campaign report CSV: one row per targeted contact, streamed page by page in constant memory.

Times are ISO 8601 UTC to the second, ``2026-11-27T10:00:00Z``, everywhere in the file (the
funnel steps' JSON included). Text cells get the formula-injection guard; ``phone`` is always
``+<digits>`` (E.164), so it is written as stored — a guard would prefix every phone with a quote.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime

import orjson
from sqlalchemy import Row

from herald.kit.csv import CsvChunkWriter, guard_cell
from herald.kit.db import Database
from herald.replies.funnel import funnel_steps_for
from herald.reports import repository

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
    long transaction (which on SQLite would keep the WAL from being checkpointed).
    """
    writer = CsvChunkWriter()
    yield writer.header(COLUMNS)
    after = 0
    while True:
        async with database.read_session() as session:
            page = await repository.export_page(
                session, campaign_id=campaign_id, after_contact_id=after, limit=page_size
            )
            contact_ids = [row.contact_id for row in page]
            steps = await funnel_steps_for(session, campaign_id, contact_ids) if page else {}
        if not page:
            return
        yield writer.chunk(report_row(row, steps.get(row.contact_id)) for row in page)
        if len(page) < page_size:
            return
        after = contact_ids[-1]


def report_row(row: Row[tuple[object, ...]], steps: dict[str, datetime] | None) -> Sequence[object]:
    status = str(row.status)
    error = row.error_msg if status in ERROR_SHOWN else None
    return (
        row.contact_id, row.phone, guard_cell(row.name), guard_cell(status), guard_cell(error),
        row.sent_at, row.delivered_at, row.read_at, row.replied_at, guard_cell(row.wamid), funnel_json(steps),
    )


def funnel_json(steps: dict[str, datetime] | None) -> str:
    if not steps:
        return "{}"
    return orjson.dumps({step: at.astimezone(UTC).strftime(ISO_UTC) for step, at in steps.items()}).decode()
