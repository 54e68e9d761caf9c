"""Claiming due jobs: one function per dialect (SQLAlchemy drops FOR UPDATE on SQLite silently)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from herald.kit.dialect import is_postgres
from herald.models import Job

JOB_LEASE = timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class ClaimedJob:
    id: int
    kind: str
    payload: dict[str, Any]
    attempts: int


def _due(now: datetime):  # type: ignore[no-untyped-def]
    # A running job whose lease expired belonged to a worker that died: run it again.
    return or_(
        (Job.status == "pending") & (Job.run_at <= now),
        (Job.status == "running") & (Job.lease_until < now),
    )


async def claim_jobs(session: AsyncSession, *, now: datetime, limit: int) -> list[ClaimedJob]:
    ids = select(Job.id).where(_due(now)).order_by(Job.id).limit(limit)
    if is_postgres(session):
        ids = ids.with_for_update(skip_locked=True)
    # SQLite: the surrounding BEGIN IMMEDIATE already excludes every other writer.
    stmt = (
        update(Job)
        .where(Job.id.in_(ids.scalar_subquery()))
        .values(status="running", lease_until=now + JOB_LEASE, attempts=Job.attempts + 1)
        .returning(Job.id, Job.kind, Job.payload, Job.attempts)
        .execution_options(synchronize_session=False)
    )
    rows = (await session.execute(stmt)).all()
    return [ClaimedJob(id=r[0], kind=r[1], payload=r[2] or {}, attempts=r[3]) for r in rows]
