"""Waits that a stop cuts short.

The engine's loops (the senders and their send loops, the jobs runner, the scheduler tick, lease
balancing, bot deliveries) wait through these rather than ``asyncio.sleep``, so that SIGTERM ends
``herald serve`` and ``herald worker`` within seconds, whatever they were waiting for.
"""

from __future__ import annotations

import asyncio
from typing import Any


async def sleep_or_stop(stop: asyncio.Event, seconds: float) -> bool:
    """Sleeps ``seconds``, or less if ``stop`` is set meanwhile; returns whether ``stop`` is set.

    The sleep itself is ``asyncio.sleep``, so that tests on a fake clock can stand in for it."""
    if stop.is_set() or seconds <= 0:
        return stop.is_set()
    return await wait_or_stop(stop, asyncio.ensure_future(asyncio.sleep(seconds)))


async def wait_or_stop(stop: asyncio.Event, waited: asyncio.Future[Any], timeout: float | None = None) -> bool:
    """Waits for ``waited`` (cancelled if still pending on return), ``stop`` or ``timeout`` seconds,
    whichever comes first; returns whether ``stop`` is set."""
    stopped = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait((waited, stopped), timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        waited.cancel()
        stopped.cancel()
    return stop.is_set()


async def event_or_stop(stop: asyncio.Event, event: asyncio.Event, timeout: float) -> bool:
    """Until ``event`` or ``stop`` is set, or ``timeout`` seconds pass; returns whether ``stop`` is set."""
    if stop.is_set():
        return True
    if event.is_set():
        return False
    return await wait_or_stop(stop, asyncio.ensure_future(event.wait()), timeout)
