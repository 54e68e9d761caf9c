"""Each request stamped with the time it reached the simulator, as Meta's edge would see it.

The per-number throughput limit counts sends in a sliding second. Counted when the handler ran, a
request that waited in the simulator's own queue (other requests being handled, timers firing,
every process on the machine sharing its cores) was counted late: a burst of handling delay
bunched the stamps, and a sender pacing evenly under the limit was refused for the simulator's
own backlog. Meta stamps a request where it arrives; so does the simulator, when the request's
first bytes are parsed (uvicorn's httptools protocol; without httptools, at the handler).

Even then, on a machine whose cores the simulator shares with the sender and its database, its event
loop stalls now and then (15–20 ms a second at a hundred numbers on two cores), and the requests that
arrived meanwhile were read, and stamped, together when it resumed: a sender writing ten requests
1.012 s apart had them counted 0.99 s apart. So the stamp goes back by what the kernel says the
request waited on the socket (``TCP_INFO``'s ``last_data_recv``, counted in the kernel's ticks, 4 ms
here), less one tick: it is never earlier than the request's real arrival, and at most two ticks
later, however long the loop stalled.
"""

from __future__ import annotations

import asyncio
import socket
import struct
import sys
import time
from collections.abc import Mapping
from typing import Any

ARRIVED_AT = "herald_sim_arrived_at"  # key in the ASGI scope's ``state``
# ``struct tcp_info`` (linux/tcp.h): eight one-byte fields, then 32-bit ones; ``tcpi_last_data_recv``,
# milliseconds since the last data arrived, is the twelfth of those.
_LAST_DATA_RECV = struct.Struct("=I")
_LAST_DATA_RECV_OFFSET = 8 + 11 * 4
_TCP_INFO = getattr(socket, "TCP_INFO", None) if sys.platform.startswith("linux") else None  # layout is Linux's
_CLOCK_REALTIME_COARSE = 5  # Linux's clock id: its resolution is the kernel's tick


def _kernel_tick() -> float:
    try:
        return time.clock_getres(_CLOCK_REALTIME_COARSE)
    except OSError:
        return 0.01  # the coarsest tick Linux is built with (100 Hz)


KERNEL_TICK = _kernel_tick()


def waited_on_socket(sock: Any) -> float:
    """Seconds the data last received on ``sock`` has surely waited there (0 when unknown): the
    kernel's count less one tick, so never more than it really waited."""
    if _TCP_INFO is None or sock is None:
        return 0.0
    try:
        info = sock.getsockopt(socket.IPPROTO_TCP, _TCP_INFO, _LAST_DATA_RECV_OFFSET + 4)
        (milliseconds,) = _LAST_DATA_RECV.unpack_from(info, _LAST_DATA_RECV_OFFSET)
    except (OSError, struct.error):
        return 0.0
    return max(0.0, milliseconds / 1000 - KERNEL_TICK)


def protocol_class() -> type[asyncio.Protocol] | str:
    """The uvicorn ``http`` setting that stamps arrivals; ``"auto"`` when httptools is missing."""
    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
    except ImportError:
        return "auto"

    class ArrivalStampingProtocol(HttpToolsProtocol):  # type: ignore[misc]
        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._socket = transport.get_extra_info("socket")

        def on_message_begin(self) -> None:
            super().on_message_begin()
            self.scope["state"][ARRIVED_AT] = time.time() - waited_on_socket(self._socket)

    return ArrivalStampingProtocol


def arrived_at(scope: Mapping[str, Any]) -> float | None:
    """Wall-clock arrival of the request, or None when the server did not stamp it."""
    state = scope.get("state")
    return state.get(ARRIVED_AT) if state else None
