"""The pacers on a fake clock: GCRA spacing, and the sliding window that keeps a stalled event loop
from releasing the sends whose slots went by all together."""

from __future__ import annotations

import asyncio

import pytest

from herald.dispatch import pacer as pacer_module
from herald.dispatch.context import burst_for, window_for
from herald.dispatch.pacer import Pacer, SlidingWindow


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(pacer_module, "monotonic", fake)
    return fake


def test_gcra_spaces_permits_at_the_rate_after_its_burst(clock: Clock) -> None:
    pacer = Pacer(10, burst=3)
    waits = [pacer.reserve() for _ in range(6)]
    # Three permits at once (the bucket), then one every 100 ms.
    assert waits == pytest.approx([0, 0, 0, 0.1, 0.2, 0.3])
    clock.now += 10  # idle: the bucket refills, but never beyond its size
    assert [pacer.reserve() for _ in range(4)] == pytest.approx([0, 0, 0, 0.1])


async def _blocks(window: SlidingWindow) -> bool:
    try:
        await asyncio.wait_for(window.acquire(), timeout=0.05)
    except TimeoutError:
        return True
    return False


async def test_window_holds_sends_a_stall_let_pile_up_to_pace_and_bucket(clock: Clock) -> None:
    rate = 10.0
    pacer = Pacer(rate, burst=burst_for(rate))
    window = SlidingWindow(window_for(rate))
    for _ in range(30):  # three seconds of slots reserved...
        pacer.reserve()
    clock.now += 3.5  # ...and the event loop stalled past all of them: every sender is due at once
    for _ in range(int(window_for(rate))):
        await window.acquire()
    assert await _blocks(window), "a send above pace + bucket left within the same second"
    clock.now += 1.001  # the second has passed: the window has room again
    await asyncio.wait_for(window.acquire(), timeout=1)


async def test_window_limit_follows_a_rate_change(clock: Clock) -> None:
    window = SlidingWindow(2)
    await window.acquire()
    await window.acquire()
    assert await _blocks(window)
    window.limit = 5
    await asyncio.wait_for(window.acquire(), timeout=1)
