"""Waits that a stop cuts short.

The engine's loops (the senders and their send loops, the jobs runner, the scheduler tick, lease
balancing, bot deliveries) wait through these rather than ``asyncio.sleep``, so that SIGTERM ends
``herald serve`` and ``herald worker`` within seconds, whatever they were waiting for.
"""

from __future__ import annotations

import asyncio
from typing import Any
from weakref import WeakKeyDictionary


async def sleep_or_stop(stop: asyncio.Event, seconds: float) -> bool:
    """Sleeps ``seconds``, or less if ``stop`` is set meanwhile; returns whether ``stop`` is set.

    The sleep itself is ``asyncio.sleep`` in the caller's own task, so that tests on a fake clock can
    stand in for it, and a sleep costs no task of its own: a hundred numbers' send loops sleep on
    their slots a thousand times a second. One watcher per ``stop`` cancels the sleepers when it is
    set (``_Sleepers``)."""
    if stop.is_set() or seconds <= 0:
        return stop.is_set()
    task = asyncio.current_task()
    if task is None:  # not in a task (a bare callback): the general form
        return await wait_or_stop(stop, asyncio.ensure_future(asyncio.sleep(seconds)))
    sleepers = _sleepers_of(stop)
    sleepers.tasks.add(task)
    try:
        await asyncio.sleep(seconds)
    except asyncio.CancelledError:
        # Ours only if the watcher cancelled it and nobody else did too: then it is a stop, not a cancel.
        if task in sleepers.woken and task.uncancel() == 0:
            return True
        raise
    finally:
        sleepers.tasks.discard(task)
        sleepers.woken.discard(task)
    return stop.is_set()


class _Sleepers:
    """The tasks sleeping on one ``stop``, and the watcher that cancels them when it is set."""

    __slots__ = ("tasks", "woken", "watcher")

    def __init__(self, stop: asyncio.Event) -> None:
        self.tasks: set[asyncio.Task[Any]] = set()
        self.woken: set[asyncio.Task[Any]] = set()  # cancelled by the watcher, not by anyone else
        self.watcher = asyncio.ensure_future(self._watch(stop))

    async def _watch(self, stop: asyncio.Event) -> None:
        await stop.wait()
        for task in list(self.tasks):
            self.woken.add(task)
            task.cancel()


_SLEEPERS: WeakKeyDictionary[asyncio.Event, _Sleepers] = WeakKeyDictionary()


def _sleepers_of(stop: asyncio.Event) -> _Sleepers:
    sleepers = _SLEEPERS.get(stop)
    # A new one once the last watcher is done (the event was set and cleared) or if it belongs to
    # another event loop (a test's).
    if sleepers is None or sleepers.watcher.done() or sleepers.watcher.get_loop() is not asyncio.get_running_loop():
        sleepers = _SLEEPERS[stop] = _Sleepers(stop)
    return sleepers


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
