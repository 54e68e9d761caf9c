"""Runs due jobs. Handlers are idempotent: a job whose worker died is run again after its lease."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from sqlalchemy import update

from herald.jobs.claim import ClaimedJob, claim_jobs
from herald.kit.db import Database
from herald.kit.types import utcnow
from herald.models import Job

log = logging.getLogger("herald.jobs")

Handler = Callable[[Database, dict[str, Any]], Awaitable[None]]
HANDLERS: dict[str, Handler] = {}
MAX_ATTEMPTS = 8


def handler(kind: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        HANDLERS[kind] = fn
        return fn

    return register


async def run_due_jobs(database: Database, *, limit: int = 10) -> int:
    """Claims and runs up to ``limit`` due jobs; returns how many ran."""
    async with database.session() as session:
        jobs = await claim_jobs(session, now=utcnow(), limit=limit)
    for job in jobs:
        await _run(database, job)
    return len(jobs)


async def _run(database: Database, job: ClaimedJob) -> None:
    fn = HANDLERS.get(job.kind)
    try:
        if fn is None:
            raise LookupError(f"no handler for job kind {job.kind!r}")
        await fn(database, job.payload)
    except Exception as exc:  # noqa: BLE001 - a failing job must not stop the runner
        log.exception("job %s (%s) failed", job.id, job.kind)
        await _finish(database, job, error=repr(exc)[:1000])
        return
    await _finish(database, job, error=None)


async def _finish(database: Database, job: ClaimedJob, *, error: str | None) -> None:
    now = utcnow()
    if error is None:
        values: dict[str, Any] = {"status": "done", "finished_at": now, "lease_until": None}
    elif job.attempts >= MAX_ATTEMPTS:
        values = {"status": "failed", "finished_at": now, "last_error": error, "lease_until": None}
    else:
        delay = timedelta(seconds=min(2**job.attempts, 600))
        values = {"status": "pending", "run_at": now + delay, "last_error": error, "lease_until": None}
    async with database.session() as session:
        await session.execute(update(Job).where(Job.id == job.id).values(**values))


async def run_forever(database: Database, stop: asyncio.Event, *, idle_sleep: float = 0.2) -> None:
    while not stop.is_set():
        try:
            ran = await run_due_jobs(database)
        except Exception:  # noqa: BLE001 - database hiccups: keep going
            log.exception("job runner error")
            ran = 0
        if not ran:
            try:
                await asyncio.wait_for(stop.wait(), timeout=idle_sleep)
            except TimeoutError:
                pass
