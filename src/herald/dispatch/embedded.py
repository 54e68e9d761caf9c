"""In the embedded default (SQLite), ``herald serve`` runs the worker inside its own lifespan."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from herald.dispatch.worker import Worker


@asynccontextmanager
async def running(worker: Worker) -> AsyncIterator[Worker]:
    """Runs the worker in a task of this event loop until the block exits, then stops it and waits
    for it: what it claimed and did not send goes back to pending, its number leases are released."""
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop), name="embedded-worker")
    try:
        yield worker
    finally:
        stop.set()
        await asyncio.gather(task, return_exceptions=True)
