"""The deliverer's SQL: claiming an endpoint with its next batch, recording how the POST went, pruning.

An outbox row is a batch already (one recording round's events for one endpoint, BATCH_MAX_EVENTS
at most); a POST takes the endpoint's oldest pending rows, as many as fit in BATCH_MAX_EVENTS
events, the oldest always, and its outcome is recorded on each of them.

An endpoint is claimed under a lease, so at most one POST to it is in flight across every worker,
and only when its back-off has run out: a failing endpoint waits alone while the others go on.
PostgreSQL claims with ``FOR UPDATE SKIP LOCKED`` so workers never wait on each other; SQLite
runs the claim inside ``BEGIN IMMEDIATE`` (kit/db.py), which already excludes other writers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, exists, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from herald.kit.dialect import is_postgres
from herald.models import EventEndpoint, EventOutbox

# Longer than the HTTP timeout: a lease only runs out if the worker that holds it died.
ENDPOINT_LEASE = timedelta(seconds=60)
BATCH_MAX_EVENTS = 200
PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"
DELIVERED_KEPT = timedelta(days=7)
FAILED_KEPT = timedelta(days=30)
PRUNE_CHUNK = 5000


@dataclass(frozen=True, slots=True)
class ClaimedBatch:
    endpoint_id: int
    url: str
    secret_enc: str
    failures: int
    outbox_ids: list[int]
    payloads: list[str]  # each row's envelopes, comma-separated
    event_count: int


def _due(now: datetime, limit: int) -> Any:
    pending = exists().where(EventOutbox.endpoint_id == EventEndpoint.id, EventOutbox.status == PENDING)
    return (
        select(EventEndpoint.id)
        .where(
            EventEndpoint.deleted_at.is_(None),
            or_(EventEndpoint.backoff_until.is_(None), EventEndpoint.backoff_until <= now),
            or_(EventEndpoint.lease_until.is_(None), EventEndpoint.lease_until <= now),
            pending,
        )
        .order_by(EventEndpoint.id)
        .limit(limit)
    )


async def claim_batches(session: AsyncSession, *, now: datetime, limit: int) -> list[ClaimedBatch]:
    """Leases up to ``limit`` due endpoints, each with its oldest pending rows (BATCH_MAX_EVENTS events at most)."""
    due = _due(now, limit)
    if is_postgres(session):
        due = due.with_for_update(skip_locked=True)
    leased = (await session.execute(
        update(EventEndpoint).where(EventEndpoint.id.in_(due.scalar_subquery()))
        .values(lease_until=now + ENDPOINT_LEASE)
        .returning(EventEndpoint.id, EventEndpoint.url, EventEndpoint.secret_enc, EventEndpoint.failures)
        .execution_options(synchronize_session=False)
    )).all()
    batches = []
    for endpoint_id, url, secret_enc, failures in sorted(leased):
        sizes = (await session.execute(  # from the index: no payload read yet
            select(EventOutbox.id, EventOutbox.event_count)
            .where(EventOutbox.endpoint_id == endpoint_id, EventOutbox.status == PENDING)
            .order_by(EventOutbox.id).limit(BATCH_MAX_EVENTS)
        )).all()
        rows = (await session.execute(
            select(EventOutbox.id, EventOutbox.payload, EventOutbox.event_count)
            .where(EventOutbox.id.in_(fitting(sizes)), EventOutbox.status == PENDING).order_by(EventOutbox.id)
        )).all() if sizes else []
        if not rows:  # delivered by another worker meanwhile
            await release(session, endpoint_id=endpoint_id)
            continue
        batches.append(ClaimedBatch(endpoint_id, url, secret_enc, failures, [r[0] for r in rows], [r[1] for r in rows],
                                    sum(r[2] for r in rows)))
    return batches


def fitting(sizes: Sequence[tuple[int, int]]) -> list[int]:
    """The ids of the oldest rows whose events fit in one POST (BATCH_MAX_EVENTS), the first always:
    ``sizes`` is (id, event count) per row, oldest first. A row is never split, so order holds."""
    ids: list[int] = []
    total = 0
    for outbox_id, count in sizes:
        if ids and total + count > BATCH_MAX_EVENTS:
            break
        ids.append(outbox_id)
        total += count
    return ids


async def delivered(session: AsyncSession, batch: ClaimedBatch, *, at: datetime, status_code: int) -> None:
    await session.execute(
        update(EventOutbox).where(EventOutbox.id.in_(batch.outbox_ids), EventOutbox.status == PENDING)
        .values(status=DELIVERED, delivered_at=at, attempts=EventOutbox.attempts + 1, last_attempt_at=at,
                last_status_code=status_code, last_error=None)
        .execution_options(synchronize_session=False)
    )
    await session.execute(
        update(EventEndpoint).where(EventEndpoint.id == batch.endpoint_id)
        .values(failures=0, backoff_until=None, lease_until=None)
        .execution_options(synchronize_session=False)
    )


async def failed_attempt(
    session: AsyncSession, batch: ClaimedBatch, *, at: datetime, error: str, status_code: int | None,
    retry_at: datetime, give_up_before: datetime,
) -> None:
    """The batch's events stay pending, and the endpoint backs off until ``retry_at``; events
    recorded before ``give_up_before`` (24 h of tries) fail for good."""
    await session.execute(
        update(EventOutbox).where(EventOutbox.id.in_(batch.outbox_ids), EventOutbox.status == PENDING)
        .values(attempts=EventOutbox.attempts + 1, last_attempt_at=at, last_status_code=status_code,
                last_error=error[:500])
        .execution_options(synchronize_session=False)
    )
    await session.execute(
        update(EventOutbox).where(EventOutbox.id.in_(batch.outbox_ids), EventOutbox.status == PENDING,
                                  EventOutbox.created_at < give_up_before)
        .values(status=FAILED)
        .execution_options(synchronize_session=False)
    )
    await session.execute(
        update(EventEndpoint).where(EventEndpoint.id == batch.endpoint_id)
        .values(failures=EventEndpoint.failures + 1, backoff_until=retry_at, lease_until=None)
        .execution_options(synchronize_session=False)
    )


async def release(session: AsyncSession, *, endpoint_id: int) -> None:
    """A POST a stop cut short: the endpoint is due again at once (its events may have arrived:
    delivery is at least once)."""
    await session.execute(
        update(EventEndpoint).where(EventEndpoint.id == endpoint_id).values(lease_until=None)
        .execution_options(synchronize_session=False)
    )


async def prune(session: AsyncSession, *, now: datetime) -> int:
    """Deletes delivered batches after DELIVERED_KEPT, failed ones after FAILED_KEPT, and whatever
    waits for a deleted endpoint; per endpoint and status, among its PRUNE_CHUNK oldest rows (ids
    grow with time), so a round reads a bounded slice of the index whatever the table's size.
    Returns how many rows it deleted."""
    deleted = 0
    endpoints = (await session.execute(select(EventEndpoint.id, EventEndpoint.deleted_at))).all()
    for endpoint_id, deleted_at in endpoints:
        kept = [(None, None)] if deleted_at is not None else [(DELIVERED, DELIVERED_KEPT), (FAILED, FAILED_KEPT)]
        for status, kept_for in kept:
            oldest = select(EventOutbox.id).where(EventOutbox.endpoint_id == endpoint_id)
            if status is not None:
                oldest = oldest.where(EventOutbox.status == status)
            oldest = oldest.order_by(EventOutbox.id).limit(PRUNE_CHUNK)
            stmt = delete(EventOutbox).where(EventOutbox.id.in_(oldest.scalar_subquery()))
            if kept_for is not None:
                stmt = stmt.where(EventOutbox.created_at < now - kept_for)
            result = await session.execute(stmt.execution_options(synchronize_session=False))
            deleted += int(result.rowcount or 0)  # type: ignore[attr-defined]
    return deleted
