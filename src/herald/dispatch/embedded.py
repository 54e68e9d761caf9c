"""In the embedded default (SQLite), ``herald serve`` runs the worker inside its own lifespan."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from fastapi import FastAPI

from herald.app import on_lifespan
from herald.dispatch.worker import Worker


async def _start(app: FastAPI) -> None:
    if not app.state.settings.embedded_worker:
        return
    stop = asyncio.Event()
    worker = Worker(
        database=app.state.database, box=app.state.secret_box, outbound=app.state.outbound,
        webhook_wakeup=app.state.webhook_wakeup,
        send_lease=timedelta(seconds=app.state.settings.send_lease_seconds),
    )
    app.state.worker_stop = stop
    app.state.worker_task = asyncio.create_task(worker.run(stop), name="embedded-worker")


async def _stop(app: FastAPI) -> None:
    stop = getattr(app.state, "worker_stop", None)
    if stop is None:
        return
    stop.set()
    await asyncio.gather(app.state.worker_task, return_exceptions=True)


on_lifespan(_start, _stop)
