"""Each request stamped with the time it reached the simulator, as Meta's edge would see it.

The per-number throughput limit counts sends in a sliding second. Counted when the handler ran, a
request that waited in the simulator's own queue (other requests being handled, timers firing,
every process on the machine sharing its cores) was counted late: a burst of handling delay
bunched the stamps, and a sender pacing evenly under the limit was refused for the simulator's
own backlog. Meta stamps a request where it arrives; so does the simulator, when the request's
first bytes are parsed (uvicorn's httptools protocol; without httptools, at the handler).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from typing import Any

ARRIVED_AT = "herald_sim_arrived_at"  # key in the ASGI scope's ``state``


def protocol_class() -> type[asyncio.Protocol] | str:
    """The uvicorn ``http`` setting that stamps arrivals; ``"auto"`` when httptools is missing."""
    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
    except ImportError:
        return "auto"

    class ArrivalStampingProtocol(HttpToolsProtocol):  # type: ignore[misc]
        def on_message_begin(self) -> None:
            super().on_message_begin()
            self.scope["state"][ARRIVED_AT] = time.time()

    return ArrivalStampingProtocol


def arrived_at(scope: Mapping[str, Any]) -> float | None:
    """Wall-clock arrival of the request, or None when the server did not stamp it."""
    state = scope.get("state")
    return state.get(ARRIVED_AT) if state else None
