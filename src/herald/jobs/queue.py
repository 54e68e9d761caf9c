"""Enqueue background work in the same transaction as the change that needs it (outbox)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from herald.kit.dialect import insert
from herald.kit.types import utcnow
from herald.models import Job


async def enqueue(
    session: AsyncSession,
    *,
    kind: str,
    payload: dict[str, Any] | None = None,
    dedupe_key: str | None = None,
    run_at: datetime | None = None,
) -> None:
    """Adds a job; with a ``dedupe_key`` already queued or running, does nothing. A finished job
    with the same key is armed again (handlers are idempotent)."""
    stmt = insert(session, Job).values(
        kind=kind, payload=payload or {}, dedupe_key=dedupe_key, status="pending",
        run_at=run_at or utcnow(), attempts=0, created_at=utcnow(),
    )
    if dedupe_key is not None:
        stmt = stmt.on_conflict_do_update(
            index_elements=["dedupe_key"],
            set_={"status": "pending", "run_at": run_at or utcnow(), "attempts": 0, "last_error": None},
            where=Job.status.in_(("done", "failed")),
        )
    await session.execute(stmt)
