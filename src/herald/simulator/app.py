"""The simulator as an ASGI app."""

from __future__ import annotations

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
) -> Starlette:
    """A WhatsApp Cloud API simulator; webhooks start with the app's lifespan."""
    state = SimState(Scenario.coerce(scenario), webhook_url, app_secret)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await state.dispatcher.start()
        try:
            yield
        finally:
            await state.dispatcher.stop()

    # /_sim routes first: `/{version}/{object_id}` would otherwise swallow them.
    app = Starlette(routes=[*control_routes(), *graph_routes()], lifespan=lifespan)
    app.state.sim = state
    return app
