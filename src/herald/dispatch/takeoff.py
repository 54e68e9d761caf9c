"""Clearing messages to leave just before their requests go: one statement per tick, not per message.

A claimed message has not left: after a crash the reaper returns it to ``pending``. One that may
have left becomes ``unknown`` instead and is never sent again automatically (at most once). So the
database must learn that a message may leave as late as possible, yet before its request is
written, and without a write per message (the claim and the recording already write each row once).

A claim's messages leave in id order (``claim.py`` returns them so, the send queue keeps that order,
and each send reserves its slot as it leaves the queue), so one number per claim says which may have
left: its watermark (``SendClaim.watermark``), the highest id cleared to leave. After a crash the
reaper makes the claim's held messages up to the watermark ``unknown`` and returns the rest to
``pending``.

Each send loop, as soon as it knows when its message's slot comes (``Sender.wait_turn``), books
the message here with that time (``Takeoff.book``). Every ``TICK`` seconds while bookings wait, one
UPDATE raises the watermarks of the claims whose messages' slots are less than ``LEAD`` seconds
away, and the send waits for that statement's commit before its request is written. While sends
keep to their slots, a crash therefore leaves at most ``LEAD`` seconds of pace marked as possibly
sent and never sent (about ``LEAD - TICK / 2`` on average), plus the requests in flight; behind
them, at most a lane's worth (below). The margin ``LEAD - TICK`` is the time
a flush may take before a send has to wait for it.

Slot times alone are not enough: when sends fall behind their slots (the event loop stalled, a
request waits for room in the sliding second), every overdue booking would be cleared at once. So
each sender has a ``Lane``: at most ``limit`` of its messages (``LEAD`` seconds of its pace, at
least ``MIN_LANE``) may be cleared and not yet written; the rest wait for the next flush.

A send that books a slot already due (at the ceiling every send does: nothing paces it) would wait
for a flush each time, a tick and a statement added to every request's time. So a flush that clears
an overdue booking raises its claim's watermark further, over the next messages of the claim in
leaving order (``Clearance``), as many as the sender's lane has room for and at most ``MAX_AHEAD``:
those leave without booking, and a send that takes one of the last ``REFILL_AT`` cleared asks for
more (``Takeoff.refill``) before the sends reach the end. Booked ahead of time (a paced send books
its slot up to half a second before it), nothing is cleared ahead: the lane still bounds what is
cleared and not yet written, either way.

The UPDATE only raises claims that still exist: a claim the reaper took back (its lease ran out while
this worker stalled) is gone, its messages perhaps claimed by another worker, and they are not sent
(``NotCleared.lost``). Claim ids are never reused, so a stale claim cannot match another's.
One ``Takeoff`` serves every number a worker sends for: a tick is one statement, however many
numbers and campaigns its messages belong to.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import math
import time

import orjson
from sqlalchemy import text

from herald.dispatch.database_loop import DatabaseWork
from herald.kit.db import Database
from herald.kit.dialect import is_postgres
from herald.kit.stopping import event_or_stop, sleep_or_stop

log = logging.getLogger("herald.dispatch")

# A flush every TICK seconds at most while bookings wait; each clears the slots due within LEAD. At
# 150 messages a second a crash then strands about 5 messages cleared and never sent (LEAD - TICK / 2
# of pace), and a flush may take up to LEAD - TICK (``MARGIN``) before a send waits for it.
TICK = 0.02
MARGIN = 0.025
LEAD = TICK + MARGIN
# When a flush cleared more than BUSY_FLUSH messages (over 2,500 a second), the next comes MAX_TICK
# later: fewer statements, each a transaction (on SQLite, one more wait for the write lock).
BUSY_FLUSH = 50
MAX_TICK = 0.05
# The margin follows what flushes take lately (a decaying maximum, times MARGIN_FACTOR): on SQLite a
# flush waits for the write lock behind a batch being recorded, tens of milliseconds on a loaded
# machine, and sends whose slots pass meanwhile would leave late, together. Between MARGIN and
# MAX_MARGIN: a crash strands at most MAX_TICK + MAX_MARGIN, a tenth of a second, of pace.
MARGIN_FACTOR = 1.5
MAX_MARGIN = 0.05
SLOW_DECAY = 0.95
# Clearing ahead of an overdue booking (see the module's docstring): at most this many messages of
# its claim past it, within the lane; a send taking one of the last REFILL_AT cleared asks for more.
MAX_AHEAD = 256
# A lane of one message would let its next message be cleared only at the flush after the last was
# written: a flush and a tick per message, which capped a number at 10 msg/s to about 6.5 a second
# with a hundred numbers on a busy PostgreSQL (flushes of 50 ms). A cleared message may also wait in
# the number's sliding second before its request is written: with two, a hundred numbers at 10 msg/s
# on SQLite waited a median second for clearances behind such messages; with four, a median 0.23 s
# (docs/performance.md, "Many numbers: the flush first"). A crash may strand that many per number
# sending below 89 msg/s (4 / LEAD).
MIN_LANE = 4
REFILL_AT = MAX_AHEAD // 2


class NotCleared(Exception):  # noqa: N818 - a verdict, not an error of ours
    """The message may not be sent: ``lost`` when its claim was taken back (another worker may hold
    it now: nothing to record), otherwise it was not cleared (the flush failed, or the worker is
    stopping) and is still ours."""

    def __init__(self, lost: bool) -> None:
        super().__init__("lost to another worker" if lost else "not cleared to leave")
        self.lost = lost


class Lane:
    """One sender's messages in the takeoff: how many are cleared to leave and not yet written
    (``marked``), and its pace (``rate``): it may have the takeoff's lead of that pace cleared."""

    __slots__ = ("rate", "marked")

    def __init__(self, rate: float = 0.0) -> None:
        self.rate = rate
        self.marked = 0

    def pace(self, rate: float) -> None:
        """For a sender whose messages leave at ``rate`` a second."""
        self.rate = rate

    def limit(self, lead: float) -> int:
        """How many of its messages may be cleared and not yet written, clearing ``lead`` seconds ahead:
        at least ``MIN_LANE``."""
        return max(MIN_LANE, math.ceil(self.rate * lead))

    def written(self) -> None:
        """A cleared message left (its request was written), or was given back without leaving."""
        self.marked -= 1


class Clearance:
    """One claim's messages in the order they leave, and how many of them, from the first, its
    watermark covers (``front``). It also counts each covered message in its sender's lane until the
    message is written or given back (``settle``), once."""

    __slots__ = ("claim_id", "ids", "front", "settled", "refilling")

    def __init__(self, claim_id: int, ids: list[int]) -> None:
        self.claim_id = claim_id
        self.ids = ids
        self.front = 0
        self.settled = bytearray(len(ids))
        self.refilling = False  # a refill is booked and not flushed yet

    def covers(self, index: int) -> bool:
        """Whether the message at ``index`` is cleared to leave."""
        return index < self.front

    def settle(self, index: int, lane: Lane) -> None:
        """The message at ``index`` was written, or given back without leaving: its lane stops counting it."""
        if not self.settled[index]:
            self.settled[index] = 1
            if index < self.front:
                lane.written()

    def advance(self, front: int, lane: Lane) -> None:
        """The watermark now covers the first ``front`` messages: the lane counts those not settled."""
        if front > self.front:
            lane.marked += front - self.front - sum(self.settled[self.front:front])
            self.front = front


class Takeoff:
    """Bookings of messages about to be sent, cleared (their claims' watermarks raised) a tick ahead
    of their slots."""

    def __init__(self, database_work: DatabaseWork) -> None:
        self.database_work = database_work
        # (slot time on the monotonic clock, message id, the future its send loop waits on, its lane, its
        # claim's clearance, its index there)
        self._booked: list[tuple[float, int, asyncio.Future[bool], Lane, Clearance, int]] = []
        self._wake = asyncio.Event()
        self._stopped = False
        # TICK, or MAX_TICK while flushes are busy; the lead is the tick plus the margin.
        self.tick, self.lead = TICK, LEAD
        self._slow = 0.0  # a decaying maximum of how long flushes took

    def book(
        self, message_id: int, claim_id: int, at: float, lane: Lane, clearance: Clearance | None = None,
        index: int = 0,
    ) -> asyncio.Future[bool]:
        """Books ``message_id`` of claim ``claim_id`` for a slot at ``at`` (``time.monotonic()``); its
        future becomes True once the claim's watermark covers the message (``lane.marked`` then counts
        it until the sender calls ``lane.written``, or ``clearance.settle`` when the booking names the
        message's place in its claim's ``clearance``), False if the claim was taken back. Cancel the
        future to withdraw the booking."""
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        if self._stopped:
            future.set_exception(NotCleared(lost=False))
            return future
        if clearance is None:
            clearance = Clearance(claim_id, [message_id])
        # The flush loop sleeps until the earliest booking is due: wake it for an earlier one (another
        # number's, say) or one due within the tick.
        earliest = not self._booked or at < self._booked[0][0]
        heapq.heappush(self._booked, (at, message_id, future, lane, clearance, index))
        if earliest or at - self.lead <= time.monotonic() + self.tick:
            self._wake.set()
        return future

    def refill(self, clearance: Clearance, lane: Lane) -> None:
        """Sends are taking the last messages ``clearance`` covers: clear more of them at the next flush,
        without a send waiting for it (the next uncovered message booked as overdue)."""
        if clearance.refilling or clearance.front >= len(clearance.ids) or self._stopped:
            return
        clearance.refilling = True
        future = self.book(clearance.ids[clearance.front], clearance.claim_id, time.monotonic(), lane, clearance,
                           clearance.front)
        future.add_done_callback(_retrieve)

    async def cleared(self, future: asyncio.Future[bool]) -> None:
        """Waits for the booking's flush; raises ``NotCleared`` unless the message was cleared."""
        try:
            marked = await future
        except NotCleared:
            raise
        except Exception as error:  # the flush failed: the message is still ours and not cleared
            raise NotCleared(lost=False) from error
        if not marked:
            raise NotCleared(lost=True)

    async def run(self, stop: asyncio.Event) -> None:
        """Flushes until ``stop``; bookings left then are refused (their messages go back to pending)."""
        try:
            while not stop.is_set():
                due_in = self._booked[0][0] - self.lead - time.monotonic() if self._booked else 1.0
                if due_in > 0:
                    self._wake.clear()
                    await event_or_stop(stop, self._wake, min(due_in, 1.0))
                    continue
                started = time.monotonic()
                marked = await self._flush()
                self._slow = max(time.monotonic() - started, self._slow * SLOW_DECAY)
                self.tick = MAX_TICK if marked > BUSY_FLUSH else TICK
                self.lead = self.tick + min(MAX_MARGIN, max(MARGIN, self._slow * MARGIN_FACTOR))
                await sleep_or_stop(stop, self.tick)
        finally:
            self._stopped = True
            for _, _, future, _, _, _ in self._booked:
                if not future.done():
                    future.set_exception(NotCleared(lost=False))
                    _retrieve(future)  # its send loop may be gone already (stopped with its sender)
            self._booked.clear()

    async def _flush(self) -> int:
        """Clears the bookings due within the lead (and, past an overdue one, more of its claim: see
        the module's docstring); returns how many messages it tried to clear."""
        now = time.monotonic()
        horizon = now + self.lead
        due: list[tuple[asyncio.Future[bool], Clearance, int]] = []
        held_back: list[tuple[float, int, asyncio.Future[bool], Lane, Clearance, int]] = []
        fronts: dict[Clearance, tuple[int, Lane]] = {}  # how far this flush takes each claim's front
        planned: dict[Lane, int] = {}  # what it adds to each lane
        while self._booked and self._booked[0][0] <= horizon:
            booking = heapq.heappop(self._booked)
            at, _, future, lane, clearance, index = booking
            if future.done():  # withdrawn
                continue
            front = fronts[clearance][0] if clearance in fronts else clearance.front
            if index < front:  # covered already, or by this flush
                if clearance.covers(index):
                    future.set_result(True)
                else:
                    due.append((future, clearance, index))
                continue
            room = lane.limit(self.lead) - lane.marked - planned.get(lane, 0)
            if room <= 0:  # its sender is behind: the next flush, once it caught up
                held_back.append(booking)
                continue
            extra = min(MAX_AHEAD, room - 1) if at <= now else 0
            new_front = min(len(clearance.ids), index + 1 + extra)
            planned[lane] = planned.get(lane, 0) + new_front - front
            fronts[clearance] = (new_front, lane)
            due.append((future, clearance, index))
        for booking in held_back:
            heapq.heappush(self._booked, booking)
        if not fronts:
            return 0
        watermarks: dict[int, int] = {}
        for clearance, (front, _) in fronts.items():
            clearance.refilling = False
            if clearance.ids[front - 1] > watermarks.get(clearance.claim_id, 0):
                watermarks[clearance.claim_id] = clearance.ids[front - 1]
        failed: Exception | None = None
        try:
            raised = await self.database_work.now(raise_watermarks, watermarks)
        except Exception as error:
            log.exception("clearing %s messages failed: they go back to pending", len(due))
            raised, failed = set(), error
        except BaseException:
            # Cancelled (the worker is torn down): these are neither booked nor settled any more, and
            # their send loops wait on them. Refused: each goes back to pending, its request unwritten.
            for future, _, _ in due:
                if not future.done():
                    future.set_exception(NotCleared(lost=False))
            raise
        for clearance, (front, lane) in fronts.items():
            if clearance.claim_id in raised:
                clearance.advance(front, lane)
        for future, clearance, index in due:
            if future.done():  # its sender gave up meanwhile
                continue
            if clearance.covers(index):
                future.set_result(True)
            elif failed is not None:
                future.set_exception(failed)
            else:
                future.set_result(False)  # the claim was taken back
        return sum(planned.values())


def _retrieve(future: asyncio.Future[bool]) -> None:
    """A refill's outcome is nobody's to await: read it so that asyncio does not log it as lost."""
    if not future.cancelled():
        future.exception()


# One statement whatever the number of claims, its text fixed (no VALUES list rendered per flush):
# the pairs as two array parameters on PostgreSQL, as one JSON array on SQLite. A watermark only rises.
_RAISE_POSTGRES = text(
    "UPDATE send_claims AS c SET watermark = GREATEST(c.watermark, v.watermark)"
    " FROM unnest(CAST(:ids AS bigint[]), CAST(:watermarks AS bigint[])) AS v(id, watermark)"
    " WHERE c.id = v.id RETURNING c.id"
)
_RAISE_SQLITE = text(
    "UPDATE send_claims SET watermark = max(send_claims.watermark, v.watermark)"
    " FROM (SELECT json_extract(value, '$[0]') AS id, json_extract(value, '$[1]') AS watermark"
    " FROM json_each(:pairs)) AS v"
    " WHERE send_claims.id = v.id RETURNING send_claims.id"
)


async def raise_watermarks(database: Database, watermarks: dict[int, int]) -> set[int]:
    """Raises each claim's watermark to at least the given message id, in one statement; returns the
    claims it found (a claim the reaper took back is gone). Sends wait on it: on SQLite it goes before
    every writer waiting for the write lock (``first``), claims included: with a hundred numbers claiming,
    a flush queued behind them waited up to 0.65 s (docs/performance.md, "Many numbers")."""
    async with database.transaction(first=True) as session:
        if is_postgres(session):
            rows = await session.execute(
                _RAISE_POSTGRES, {"ids": list(watermarks), "watermarks": list(watermarks.values())}
            )
        else:
            rows = await session.execute(_RAISE_SQLITE, {"pairs": orjson.dumps(list(watermarks.items())).decode()})
        return set(rows.scalars())
