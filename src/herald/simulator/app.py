"""The simulator as an ASGI app."""

from __future__ import annotations

import asyncio
import contextlib
import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from starlette.applications import Starlette

from herald.simulator.api import graph_routes
from herald.simulator.control import control_routes
from herald.simulator.scenario import Scenario
from herald.simulator.state import SimState


def create_app(
    scenario: Scenario | dict[str, Any] | str | Path | None = None,
    webhook_url: str | None = None,
    app_secret: str = "sim-secret",
    *,
    freeze_heap: bool = False,
) -> Starlette:
    """A WhatsApp Cloud API simulator; webhooks start with the app's lifespan.

    ``freeze_heap`` (the ``herald simulator`` process, which has the interpreter to itself): see
    ``_freeze_kept_objects``.
    """
    state = SimState(Scenario.coerce(scenario), webhook_url, app_secret)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await state.dispatcher.start()
        freezer = asyncio.create_task(_freeze_kept_objects()) if freeze_heap else None
        try:
            yield
        finally:
            if freezer:
                freezer.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await freezer
            await state.dispatcher.stop()

    # /_sim routes first: `/{version}/{object_id}` would otherwise swallow them.
    app = Starlette(routes=[*control_routes(), *graph_routes()], lifespan=lifespan)
    app.state.sim = state
    return app



FREEZE_EVERY_SECONDS = 1.0


async def _freeze_kept_objects() -> None:
    """Keeps the collector's full passes off the simulator's clock.

    The simulator keeps every accepted message (``/_sim/messages``), so its heap grows by about a
    hundred thousand objects per 100,000 sends, and each full collection walked all of them: pauses
    of tens of milliseconds in which requests queue, then get stamped together, so a strict
    per-second throughput window saw a client pacing evenly at 98.5 % of the limit go over it. Every
    second the young generations are collected and what survived is frozen (the messages are kept
    for the process's life anyway); later collections walk only what is new. The start-up heap
    (every module imported) is frozen at once: a benchmark starts sending as soon as the simulator
    answers, and the first full collection over it paused the loop for 24 ms one second in.
    """
    gc.collect()
    gc.freeze()
    while True:
        await asyncio.sleep(FREEZE_EVERY_SECONDS)
        gc.collect(1)
        gc.freeze()
