"""GCRA pacing: a permit every 1/rate seconds, with a small burst tolerance.

Each caller reserves the next slot synchronously and then sleeps until it is due, so many
concurrent senders share one pace exactly, and a rate change applies to the next reservation.
"""

from __future__ import annotations

import asyncio
import math
from collections import deque
from time import monotonic

# Sends that may leave together when a window with ``catch_up`` spacing has fallen behind: the
# event loop's timers tick in milliseconds, so spacing finer than that needs a little slack.
CATCH_UP_BUCKET = 3


class Pacer:
    """Permits every 1/rate seconds; a bucket of ``burst`` lets slots that went by unused (a stall, a
    late claim) be caught up. The first permit starts the schedule with an empty bucket: there is
    nothing before it to catch up, and a burst at the start, allowed by an empty sliding second,
    would fill the number's sliding second (``SlidingWindow``, only a little above the pace) a second
    later, so that every send after it waited on the window, each adding its own lateness."""

    def __init__(self, rate_per_second: float, burst: int = 1) -> None:
        self._tat: float | None = None  # the theoretical arrival time of the next permit; None before the first
        self.burst = max(1, burst)
        self.rate = rate_per_second

    @property
    def rate(self) -> float:
        return self._rate

    @rate.setter
    def rate(self, value: float) -> None:
        self._rate = max(value, 1e-6)
        self._interval = 1.0 / self._rate

    def reserve(self) -> float:
        """Takes the next permit; returns how long to wait before using it."""
        now = monotonic()
        tolerance = (self.burst - 1) * self._interval
        tat = now if self._tat is None else max(self._tat, now - tolerance)
        self._tat = tat + self._interval
        return max(0.0, tat - now)

    async def acquire(self) -> None:
        wait = self.reserve()
        if wait > 0:
            await asyncio.sleep(wait)

    def backlog_seconds(self) -> float:
        """How far ahead of now permits are already reserved."""
        return 0.0 if self._tat is None else max(0.0, self._tat - monotonic())


class SlidingWindow:
    """At most ``limit`` acquisitions a second, counted when they happen: at most ``ceil(limit)`` in
    any window of ``ceil(limit) / limit`` seconds (one second for a whole ``limit``). A fractional
    limit is how a number's window keeps a margin under Meta's whole count: 98.8 % of 10 msg/s is 10
    sends in any 1.012 s, so any one second holds 10 unless arrivals bunch by more than 12 ms.
    Rounded down to 9 a second instead, a number at 10 msg/s lost a tenth of its throughput.

    The GCRA spaces sends evenly, but a stalled event loop releases late sends together; Meta
    counts arrivals in a sliding second, so the number's ceiling is enforced on actual send times.

    With ``catch_up``, acquisitions are also spaced at no more than ``catch_up`` × ``limit`` per
    second (a GCRA on the same actual times, bucket of ``CATCH_UP_BUCKET``). Without it, a window
    running full replays the previous second: each slot frees exactly one second after it was
    taken, so a clump of sends released after a stall would be released again, clump for clump,
    every second, and the clumps would queue at Meta until its count of its own arrival times
    went over.
    """

    def __init__(self, limit: float, *, catch_up: float | None = None) -> None:
        self.limit = limit
        self.catch_up = catch_up
        # One mutable time cell per slot, so that a slot can be restamped when its request is written.
        self._times: deque[list[float]] = deque()
        self._tat = 0.0
        # Waiters queue on the lock (FIFO) instead of all waking to race for each freed slot.
        self._lock = asyncio.Lock()

    def _take(self, now: float) -> float:
        """0 when a slot was taken now (its time cell is the window's last), else how long to wait."""
        times = self._times
        count = max(1, math.ceil(self.limit - 1e-9))
        span = count / self.limit if self.limit > 0 else 1.0
        horizon = now - span
        while times and times[0][0] <= horizon:
            times.popleft()
        if len(times) >= count:
            return times[0][0] + span - now + 0.0005
        if self.catch_up:
            interval = 1.0 / max(self.limit * self.catch_up, 1e-6)
            earliest = self._tat - (CATCH_UP_BUCKET - 1) * interval
            if now < earliest:
                return earliest - now
            self._tat = max(self._tat, now) + interval
        times.append([now])
        return 0.0

    async def acquire(self) -> list[float]:
        """Waits for a slot; returns its time cell, which ``sent`` moves to when the send really left."""
        if not self._lock.locked() and not self._take(monotonic()):
            return self._times[-1]  # the common case: a free slot and nobody queued before us
        async with self._lock:
            while True:
                wait = self._take(monotonic())
                if not wait:
                    return self._times[-1]
                # The loop's timers tick in milliseconds: a shorter sleep would spin until the time
                # comes; the catch-up bucket lets the sends a millisecond allows leave together.
                await asyncio.sleep(max(wait, 0.001))


def sent(cell: list[float]) -> None:
    """Restamps a slot with the moment its request was written.

    A slot is taken before the request is built and written; between the two, the event loop may
    run other work (a batch being recorded, a collection, a connection being opened: up to 100 ms).
    Meta counts the request when it arrives, so the window counts it from when it left; counted from
    the slot, a send held back that long could fall inside Meta's next second after it had left
    ours. A restamped slot only ever moves later, so the window errs on the side of waiting.
    """
    cell[0] = monotonic()
