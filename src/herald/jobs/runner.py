"""Runs due jobs. Handlers are idempotent: a job whose worker died is run again after its lease.

The runner knows no kinds: whoever runs it passes the table of kind → handler (the worker's is
``herald.dispatch.worker.JOB_HANDLERS``). A kind missing from it fails the job, retried later.

A stop ends the runner within seconds: a handler that works in steps (materialising an audience in
chunks) stops between two of them by raising ``Interrupted``, and jobs it had claimed but not finished
go back to pending, due at once, their attempt not counted.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Mapping
from datetime import timedelta
from typing import Any, Protocol

from sqlalchemy import update

from herald.jobs.claim import ClaimedJob, claim_jobs
from herald.kit.db import Database
from herald.kit.stopping import sleep_or_stop
from herald.kit.types import utcnow
from herald.models import Job

log = logging.getLogger("herald.jobs")



class Handler(Protocol):
    def __call__(
        self, database: Database, payload: dict[str, Any], *, stop: asyncio.Event | None = None
    ) -> Awaitable[None]: ...


class Interrupted(Exception):  # not an error: the job stopped between two steps
    """Raised by a handler that stopped between two steps because the worker is stopping."""


Handlers = Mapping[str, Handler]
MAX_ATTEMPTS = 8


async def run_due_jobs(
    database: Database, handlers: Handlers, *, limit: int = 10, stop: asyncio.Event | None = None
) -> int:
    """Claims and runs up to ``limit`` due jobs; returns how many ran. On ``stop``, the jobs not run
    yet go back to pending."""
    async with database.session() as session:
        jobs = await claim_jobs(session, now=utcnow(), limit=limit)
    for index, job in enumerate(jobs):
        if stop is not None and stop.is_set():
            await _release(database, jobs[index:])
            return index
        await _run(database, handlers, job, stop)
    return len(jobs)


async def _run(database: Database, handlers: Handlers, job: ClaimedJob, stop: asyncio.Event | None = None) -> None:
    fn = handlers.get(job.kind)
    try:
        if fn is None:
            raise LookupError(f"no handler for job kind {job.kind!r}")
        await fn(database, job.payload, stop=stop)
    except Interrupted:
        log.info("job %s (%s) interrupted by the stop; it goes on later", job.id, job.kind)
        await _release(database, [job])
        return
    except Exception as exc:  # a failing job must not stop the runner
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


async def _release(database: Database, jobs: list[ClaimedJob]) -> None:
    """Claimed jobs a stop kept from finishing: pending and due at once, as if never claimed."""
    async with database.session() as session:
        await session.execute(
            update(Job).where(Job.id.in_([job.id for job in jobs]), Job.status == "running")
            .values(status="pending", run_at=utcnow(), lease_until=None, attempts=Job.attempts - 1)
            .execution_options(synchronize_session=False)
        )


async def run_forever(database: Database, handlers: Handlers, stop: asyncio.Event, *, idle_sleep: float = 0.2) -> None:
    while not stop.is_set():
        try:
            ran = await run_due_jobs(database, handlers, stop=stop)
        except Exception:  # database hiccups: keep going
            log.exception("job runner error")
            ran = 0
        if not ran:
            await sleep_or_stop(stop, idle_sleep)
