"""The pacers on a fake clock: GCRA spacing, and the sliding window that keeps a stalled event loop
from releasing the sends whose slots went by all together."""

from __future__ import annotations

import asyncio

import pytest

from herald.dispatch import pacer as pacer_module
from herald.dispatch.context import burst_for, window_for
from herald.dispatch.pacer import Pacer, SlidingWindow
from tests.conftest import LOOPBACK_ALLOWED


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


def test_gcra_spaces_permits_at_the_rate_and_catches_up_slots_that_went_by(clock: Clock) -> None:
    pacer = Pacer(10, burst=3)
    waits = [pacer.reserve() for _ in range(4)]
    # The first permit starts the schedule: no burst at the start, one every 100 ms.
    assert waits == pytest.approx([0, 0.1, 0.2, 0.3])
    clock.now += 10  # idle: the bucket refills, but never beyond its size
    assert [pacer.reserve() for _ in range(4)] == pytest.approx([0, 0, 0, 0.1])
    clock.now += 0.35  # a stall let two slots go by: caught up at once, then the pace
    assert [pacer.reserve() for _ in range(3)] == pytest.approx([0, 0, 0.05])


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


async def test_a_fractional_limit_keeps_its_margin_over_a_longer_window_not_a_lost_send(clock: Clock) -> None:
    """A number at 10 msg/s is held at 98.8 % of it: ten sends in any 1.012 s, not nine in a second
    (which cost a tenth of the number's throughput), and never eleven in any second."""
    window = SlidingWindow(10 * 0.988)
    for _ in range(10):
        await asyncio.wait_for(window.acquire(), timeout=1)
    assert await _blocks(window), "an eleventh send within the window"
    clock.now += 1.001  # a second later: Meta would count the ten still, 12 ms of margin
    assert await _blocks(window)
    clock.now += 0.012
    await asyncio.wait_for(window.acquire(), timeout=1)


async def test_window_limit_follows_a_rate_change(clock: Clock) -> None:
    window = SlidingWindow(2)
    await window.acquire()
    await window.acquire()
    assert await _blocks(window)
    window.limit = 5
    await asyncio.wait_for(window.acquire(), timeout=1)


def _most_within(times: list[float], span: float) -> int:
    return max(sum(1 for t in times if start <= t < start + span) for start in times)


_real_sleep = asyncio.sleep


async def _drive(clock: Clock, tasks: list[asyncio.Task[None]]) -> None:
    """Runs the tasks while the fake clock ticks by 0.1 ms."""
    while not all(task.done() for task in tasks):
        clock.now += 0.0001
        await _real_sleep(0)


@pytest.fixture
def fake_sleep(clock: Clock, monkeypatch: pytest.MonkeyPatch) -> None:
    """asyncio.sleep on the fake clock, for the pacer and the sender modules."""
    async def sleep_on_fake_clock(seconds: float) -> None:
        due = clock.now + seconds
        while clock.now < due:
            await _real_sleep(0)

    monkeypatch.setattr(asyncio, "sleep", sleep_on_fake_clock)
    monkeypatch.setattr(pacer_module.asyncio, "sleep", sleep_on_fake_clock)


async def test_sends_a_stall_made_due_leave_spaced_at_the_catch_up_rate(clock: Clock, fake_sleep: None) -> None:
    """At the top tier the pacer hands out slots ahead to the senders sleeping on them; a stalled
    event loop makes them all due at once. They must leave spaced (``CATCH_UP`` × the pace), not in
    one clump, which queues at Meta and gets counted over its sliding second."""
    from herald.dispatch.context import CampaignContext
    from herald.dispatch.pacer import CATCH_UP_BUCKET
    from herald.dispatch.sender import CATCH_UP, WINDOW_MARGIN, Sender
    from herald.whatsapp.client import CloudAPIClient

    dispatcher = Sender(database=None, client=CloudAPIClient(outbound=LOOPBACK_ALLOWED), box=None, number_id=1)  # type: ignore[arg-type]
    dispatcher.throughput = 1000
    dispatcher._apply_throughput()
    ctx = CampaignContext(id=1, org_id=1, rate=1000, template_name="t", language="en", variables={}, header=None,
                          pacer=Pacer(1000, burst=burst_for(1000)))
    ctx.window.limit = window_for(1000)
    left: list[float] = []

    async def send() -> None:
        await dispatcher.wait_turn(ctx)
        left.append(clock.now)

    dispatcher.number_pacer._tat = clock.now + 0.1  # in full flow: its bucket spent, slots reserved 100 ms ahead
    senders = [asyncio.create_task(send()) for _ in range(40)]  # 40 more slots, 100-140 ms ahead
    await _real_sleep(0)
    clock.now += 0.25  # the event loop stalls past all of them
    await _drive(clock, senders)

    spacing = 1 / (1000 * WINDOW_MARGIN * CATCH_UP)
    # Never more than the catch-up bucket plus the catch-up pace in any 10 ms...
    assert _most_within(left, 0.010) <= CATCH_UP_BUCKET + 0.010 / spacing + 1
    # ...and caught up at that pace, no slower.
    assert left[-1] - left[0] == pytest.approx((len(left) - CATCH_UP_BUCKET) * spacing, abs=0.002)


async def test_a_full_window_does_not_replay_a_clump_a_second_later(clock: Clock, fake_sleep: None) -> None:
    """Slots free one second after they were taken: a window running full used to release the
    next sends exactly as the previous second's went, clump for clump."""
    from herald.dispatch.pacer import CATCH_UP_BUCKET

    window = SlidingWindow(100)
    clump = SlidingWindow(100, catch_up=1.2)
    for w in (window, clump):
        w._times.extend([[clock.now] for _ in range(50)] + [[clock.now + 0.5 + i * 0.01] for i in range(50)])  # full, a clump first
    clock.now += 0.9
    released: dict[str, list[float]] = {"plain": [], "spaced": []}

    async def take(w: SlidingWindow, name: str) -> None:
        await w.acquire()
        released[name].append(clock.now)

    tasks = [asyncio.create_task(take(window, "plain")) for _ in range(50)]
    tasks += [asyncio.create_task(take(clump, "spaced")) for _ in range(50)]
    await _drive(clock, tasks)

    assert _most_within(released["plain"], 0.005) == 50  # the old behaviour, kept where asked for
    assert _most_within(released["spaced"], 0.010) <= CATCH_UP_BUCKET + 0.010 * 120 + 1


async def test_a_slot_restamped_when_its_request_left_counts_from_then(clock: Clock) -> None:
    """The sender takes a slot, then builds and writes the request; if the event loop was held up in
    between, Meta counts the request from when it really left. The window must too, or a send held
    back still falls inside Meta's next second after it has left ours."""
    from herald.dispatch.pacer import sent

    window = SlidingWindow(2)
    early = await window.acquire()
    held_back = await window.acquire()
    assert held_back[0] == clock.now
    sent(early)
    clock.now += 0.3  # the second request only went out 300 ms after its slot
    sent(held_back)
    assert held_back[0] == clock.now
    clock.now += 0.701  # a second after both slots were taken, but not after the second send left
    await asyncio.wait_for(window.acquire(), timeout=1)  # the first slot is free again
    assert await _blocks(window), "the window freed the slot of a request that left 300 ms later"
    clock.now += 0.3
    await asyncio.wait_for(window.acquire(), timeout=1)
