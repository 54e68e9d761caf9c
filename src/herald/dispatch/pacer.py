"""GCRA pacing: a permit every 1/rate seconds, with a small burst tolerance.

Each caller reserves the next slot synchronously and then sleeps until it is due, so many
concurrent senders share one pace exactly, and a rate change applies to the next reservation.
"""

from __future__ import annotations

import asyncio
from collections import deque
from time import monotonic


class Pacer:
    def __init__(self, rate_per_second: float, burst: int = 1) -> None:
        self._tat = 0.0
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
        tat = max(self._tat, now - tolerance)
        self._tat = tat + self._interval
        return max(0.0, tat - now)

    async def acquire(self) -> None:
        wait = self.reserve()
        if wait > 0:
            await asyncio.sleep(wait)

    def backlog_seconds(self) -> float:
        """How far ahead of now permits are already reserved."""
        return max(0.0, self._tat - monotonic())


class SlidingWindow:
    """At most ``limit`` acquisitions in any one-second window, counted when they happen.

    The GCRA spaces sends evenly, but a stalled event loop releases late sends together; Meta
    counts arrivals in a sliding second, so the number's ceiling is enforced on actual send times.
    """

    def __init__(self, limit: float) -> None:
        self.limit = limit
        self._times: deque[float] = deque()
        # Waiters queue on the lock (FIFO) instead of all waking to race for each freed slot.
        self._lock = asyncio.Lock()

    def _take(self, now: float) -> bool:
        times = self._times
        horizon = now - 1.0
        while times and times[0] <= horizon:
            times.popleft()
        if len(times) < max(1, int(self.limit)):
            times.append(now)
            return True
        return False

    async def acquire(self) -> None:
        if not self._lock.locked() and self._take(monotonic()):
            return  # the common case: a free slot and nobody queued before us
        async with self._lock:
            while True:
                if self._take(monotonic()):
                    return
                await asyncio.sleep(self._times[0] + 1.0 - monotonic() + 0.0005)
