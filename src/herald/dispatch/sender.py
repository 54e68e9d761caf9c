"""Sending one WhatsApp number's campaign messages at its pace: the ``Sender``.

One ``Sender`` runs per number this worker holds the lease of. It claims batches (``batch.py``) a
fraction of a second ahead into a queue; a pool of send loops (``SEND_LOOP_SECONDS`` of the number's
pace, at most as many as the client has connections) takes messages from it, paces each through two
GCRA pacers (the campaign's pace and the number's throughput, ``pacer.py``), sends it, turns a
failure into an outcome (``retry_policy.py``), and the batch's outcomes are handed in parts, at most
``RECORD_EVERY_SECONDS`` apart and with its last outcome, to the recorder (``recorder.py``), which
writes those of every number of the worker together. No task per message, and never more requests
waiting than connections: a request queued inside aiohttp's connector costs far more than a message
waiting in our queue.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import time
from collections.abc import Collection, Coroutine
from datetime import timedelta
from typing import Any

from herald.campaigns import frequency_cap
from herald.campaigns.send_window import window_of
from herald.dispatch import context as ctxmod
from herald.dispatch import retry_policy
from herald.dispatch.batch import MAX_BATCH, Batch, BatchPart, Outgoing, anything_due, claim_batch
from herald.dispatch.claim import SEND_LEASE
from herald.dispatch.database_loop import DatabaseWork
from herald.dispatch.outcomes import Lost, NotSent, Outcome, Released, Retry, Sent, Unknown
from herald.dispatch.pacer import Pacer, SlidingWindow, sent
from herald.dispatch.recorder import Recorder
from herald.dispatch.roster import CampaignRow, NumberView, Roster
from herald.dispatch.takeoff import REFILL_AT, Clearance, Lane, NotCleared, Takeoff
from herald.kit.crypto import SecretBox
from herald.kit.db import Database
from herald.kit.stopping import event_or_stop, sleep_or_stop
from herald.kit.types import utcnow
from herald.media.service import FRESHNESS_MARGIN, ensure_fresh_media_id
from herald.models.whatsapp_number import DEFAULT_THROUGHPUT_MPS
from herald.ops import metrics
from herald.ops.logs import bind
from herald.pricing.forecast import category_of
from herald.quality.breaker import settings_of
from herald.whatsapp import CloudAPIClient, NumberCredentials, WhatsAppError

log = logging.getLogger("herald.dispatch")

REFRESH_SECONDS = 0.5
# A refresh may use the roster's read of up to this long ago: with the refresh's own period, what a
# sender knows is at most 0.75 s old. A pause or an end through the API of the worker's own process
# (``herald serve``) stops the sends at once (``Worker.campaigns_changed``).
ROSTER_MAX_AGE = REFRESH_SECONDS / 2
PREFETCH_SECONDS = 0.5  # a claim is made when less than this much of the pace is left claimed
# How much of a campaign's pace one claim takes (at most ``MAX_BATCH``; a slow campaign's is longer, see
# ``CLAIM_AT_LEAST``); a claim is made when less than ``PREFETCH_SECONDS`` is left, so a message waits up
# to about this long claimed before it leaves.
CLAIM_SECONDS = 3.0
# Each claim's share of ``CLAIM_SECONDS`` is drawn between 1 - CLAIM_SPREAD and 1 + CLAIM_SPREAD of
# it: numbers started together would otherwise claim together every few seconds, all their claims
# rendered at once on the database loop while the takeoff's flushes waited behind them
# (docs/performance.md, "Many numbers: claims spread out").
CLAIM_SPREAD = 0.25
# A campaign too slow for ``CLAIM_SECONDS`` to hold this many messages claims this many, or
# ``CLAIM_SECONDS_AT_MOST`` of its pace if that is less: claiming and recording cost the same whatever a
# claim's size, and three seconds of 10 msg/s (30 messages) made a hundred numbers claim 33 times a
# second (docs/performance.md, "Many numbers: every run on target, and slow numbers claim more at once").
CLAIM_AT_LEAST = 60
CLAIM_SECONDS_AT_MOST = 8.0
LOW_WATER = MAX_BATCH // 2  # claim again when fewer messages than this wait for a send loop
# A batch is recorded in parts while it sends, at most this long apart, so the stats stay live.
RECORD_EVERY_SECONDS = 0.5
IDLE_RECHECK_SECONDS = 1.0
IDLE_SECONDS = 0.05  # the shortest wait before looking for a claim again
# Claims are made half a second ahead of the pace (``PREFETCH_SECONDS``), so a send loop waits about
# that long for its slot; one further away than this is given back (see ``_send_one``).
HOLD_AT_MOST_SECONDS = 5.0
# A wait for a slot this short is a plain sleep: a stop waits for it. The send loops wait for their slots
# a thousand times a second at the top tier, where a wait a stop can cut short (two futures raced)
# costs about 12 µs more each; only a lowered pace makes waits longer than this.
PLAIN_WAIT_SECONDS = 1.0
# On 130429 the number's pace drops by 2 % (at most once a second, down to half) and climbs back
# 1 % per refresh. We already pace below Meta's fixed limit, so a refusal means arrival jitter (a
# stall somewhere released sends together), not a wrong pace: a deep cut would only waste the window.
THROTTLE_STEP = 0.98
THROTTLE_FLOOR = 0.5
THROTTLE_RECOVERY = 1.01
# Below the number's throughput so that arrival jitter at Meta stays inside its sliding second:
# 1.5 % of the window is 15 ms of sends at any rate.
THROUGHPUT_MARGIN = 0.985
# The number's sliding second on actual send times caps a little above the pace: equal to it, the
# window stays full and every wait's lateness carries into the next second; above it, the pacer sets
# the rate and the window binds only while catching up after a stall. 98.8 % leaves about 12 ms of
# arrival jitter before Meta's count (docs/design.md, "Dispatch", has the measurements).
WINDOW_MARGIN = 0.988
# How fast sends may leave, over the number's pace, when they catch up after the event loop stalled
# (a full garbage collection, a batch being recorded): the send loops due meanwhile leave spaced, not
# as one clump that a full window would replay every second (see ``SlidingWindow``) and that Meta
# would count over its sliding second. At 1.2 × the pace a 40 ms stall is caught up within 200 ms.
CATCH_UP = 1.2
# A send loop holds its message from the queue until WhatsApp answers: through the wait for its slot (up
# to about ``PREFETCH_SECONDS``, as claims are made that far ahead) and the request. A number has this
# many seconds of its pace in send loops (at least ``MIN_SEND_LOOPS``, at most the client's connections),
# so requests may take up to about 1.5 s before the loops rather than the pace hold it back. A loop per
# connection for every number made 25,600 idle tasks with a hundred numbers at 10 msg/s, which every
# full garbage collection walked (docs/performance.md, "Many numbers: what an idle number costs").
SEND_LOOP_SECONDS = 2.0
MIN_SEND_LOOPS = 8


def claim_horizon(*, rate: float, windowed: bool, rng: random.Random | None = None) -> float:
    """How many seconds of its campaign's pace (``rate``, msg/s) a claim takes: ``PREFETCH_SECONDS`` with a
    send window (so that its windows close on time), else about ``CLAIM_SECONDS``, or as long as
    ``CLAIM_AT_LEAST`` messages take up to ``CLAIM_SECONDS_AT_MOST``, spread by ``CLAIM_SPREAD``."""
    if windowed:
        return PREFETCH_SECONDS
    seconds = max(CLAIM_SECONDS, min(CLAIM_AT_LEAST / rate, CLAIM_SECONDS_AT_MOST)) if rate > 0 else CLAIM_SECONDS
    return seconds * (rng or _claim_rng).uniform(1 - CLAIM_SPREAD, 1 + CLAIM_SPREAD)


_claim_rng = random.Random()


def claim_size(rate: float, *, windowed: bool, lease: timedelta, rng: random.Random | None = None) -> int:
    """How many messages a claim takes at ``rate`` msg/s: ``claim_horizon`` of the pace, at most
    ``MAX_BATCH``, and never more than half the send ``lease`` of it, since the reaper takes back the
    messages of a claim whose lease ran out, from a live sender too (only its tests lease for seconds)."""
    seconds = min(claim_horizon(rate=rate, windowed=windowed, rng=rng), lease.total_seconds() / 2)
    return max(1, min(MAX_BATCH, int(rate * seconds)))


class Sender:
    """Claims, paces, sends and records one number's campaign messages (see the module's docstring)."""

    def __init__(
        self, *, database: Database, client: CloudAPIClient, box: SecretBox, number_id: int,
        send_lease: timedelta = SEND_LEASE, database_work: DatabaseWork | None = None,
        takeoff: Takeoff | None = None, roster: Roster | None = None, recorder: Recorder | None = None,
    ) -> None:
        self.send_lease = send_lease
        # The longest a send loop waits for its slot holding a claimed message: well inside its lease,
        # after which the reaper would call the message unknown.
        self.hold_at_most = min(HOLD_AT_MOST_SECONDS, send_lease.total_seconds() / 2)
        self.database = database
        # Claims and recording: inline by default; on a loop of their own under ``herald worker``.
        self.database_work = database_work or DatabaseWork(database)
        # Raises claims' watermarks a tick before their messages leave: the worker's, shared by its numbers,
        # or one of our own (run by ``run``) when the sender runs alone.
        self.takeoff = takeoff or Takeoff(self.database_work)
        self._own_takeoff = takeoff is None
        # What we know of our number and its campaigns, re-read every ``REFRESH_SECONDS``: read for all
        # of the worker's numbers at once (the worker's roster), or by one of our own.
        self.roster = roster or Roster(self.database_work, box, max_age=ROSTER_MAX_AGE)
        # Writes the batches' outcomes in rounds, with those of the worker's other numbers when shared.
        self.recorder = recorder or Recorder(self.database_work)
        self.lane = Lane()  # how many of our messages may be cleared to leave and not yet written
        self.client = client
        self.box = box
        self.number_id = number_id
        self.creds: NumberCredentials | None = None
        self.throughput = DEFAULT_THROUGHPUT_MPS
        self.throttle = 1.0  # lowered on 130429, recovers over time
        self.throttled_at = 0.0
        # Even spacing a little under the number's throughput, with a tenth of a second's bucket so
        # that slots a stall or a late claim let go by are caught up rather than lost (strict, burst
        # 1, lost 1 % of the top tier's rate). Meta counts sends in a sliding second: the window
        # holds the same limit on actual send times and spaces the catching up (``CATCH_UP``).
        self.number_pacer = Pacer(1)
        self.window = SlidingWindow(1, catch_up=CATCH_UP)
        self._apply_throughput()
        self.campaigns: dict[int, ctxmod.CampaignContext] = {}
        # Claimed (``claimed`` committed) and waiting for a free send loop; None tells a send loop to stop.
        self.queue: asyncio.Queue[Outgoing | None] = asyncio.Queue()
        self.max_send_loops = max(1, client.connection_limit)
        self.send_loops: list[asyncio.Task[None]] = []  # grown with the pace (``_size_send_loops``)
        self.queue_full = asyncio.Event()  # cleared while the queue is too full to claim more
        self.queue_full.set()
        self.recording: set[asyncio.Task[None]] = set()
        self.look_again_in = IDLE_SECONDS  # when ``_claim_next_batch`` found nothing to claim yet
        # Set when the sender stops: send loops waiting for their slot give their message back.
        self.stop = asyncio.Event()
        self._label = str(number_id)
        self._sent_metric = metrics.MESSAGES_SENT.labels(number=self._label)
        self._latency_metric = metrics.SEND_LATENCY.labels(number=self._label)

    async def run(self, stop: asyncio.Event) -> None:
        self.stop = stop
        with bind(number_id=self.number_id):  # the recording tasks created here inherit it
            try:
                await self._run(stop)
            finally:
                self.roster.leave(self.number_id)

    async def _run(self, stop: asyncio.Event) -> None:
        next_refresh = 0.0
        refreshed_at = -float("inf")
        takeoff = asyncio.create_task(self.takeoff.run(stop)) if self._own_takeoff else None
        try:
            while not stop.is_set():
                try:
                    # Due, or campaigns changed since the last refresh (``Roster.changed``: seen here at
                    # the next turn, within ``REFRESH_SECONDS`` even when idle).
                    if time.monotonic() >= next_refresh or self.roster.changed_at > refreshed_at:
                        refreshed_at = time.monotonic()
                        await self._refresh()
                        next_refresh = time.monotonic() + REFRESH_SECONDS
                    if not await self._claim_next_batch():
                        # Until the next claim may be due (a refresh may bring work: at most until then).
                        wait = min(self.look_again_in, next_refresh - time.monotonic())
                        await sleep_or_stop(stop, max(IDLE_SECONDS, wait))
                    elif self.queue.qsize() >= LOW_WATER:
                        # Enough queued: claim again once the send loops have taken most of it.
                        self.queue_full.clear()
                        await event_or_stop(stop, self.queue_full, 0.05)
                except Exception:  # e.g. the database restarting: keep the number going
                    log.exception("dispatching for number %s failed; retrying in a second", self.number_id)
                    await sleep_or_stop(stop, 1.0)
        finally:
            # Messages still queued go back to pending (Released) as their campaign is now inactive.
            for campaign in self.campaigns.values():
                campaign.active = False
            for _ in self.send_loops:
                self.queue.put_nowait(None)
            await asyncio.gather(*self.send_loops, return_exceptions=True)
            if takeoff is not None:
                await asyncio.gather(takeoff, return_exceptions=True)
            while self.recording:
                await asyncio.gather(*list(self.recording), return_exceptions=True)

    def stop_campaigns(self, campaign_ids: Collection[int]) -> None:
        """These campaigns are paused or ended (committed): nothing more of theirs leaves. Their queued
        messages go back to pending as they come up (``_send_one``); the next refresh forgets them."""
        for campaign_id in campaign_ids:
            ctx = self.campaigns.get(campaign_id)
            if ctx is not None:
                ctx.active = False

    async def _view(self) -> NumberView | None:
        """The roster's view of our number, never one read before the last ``Roster.changed``: a view
        asked for before a change may come from a read that started before it, and would make active
        again a campaign ``stop_campaigns`` has just stopped."""
        while True:
            asked = time.monotonic()
            view = await self.roster.view(self.number_id)
            if self.roster.changed_at <= asked:  # the roster read it after the change (``Roster.view``)
                return view

    async def _refresh(self) -> None:
        view = await self._view()
        if view is None:
            self.campaigns.clear()
            return
        if await self._refresh_expiring_media(view.campaigns):
            view = await self.roster.view(self.number_id, fresh=True)
            if view is None:
                self.campaigns.clear()
                return
        self.creds, self.throughput, number_marketing = view.creds, view.throughput, view.marketing
        self.throttle = min(1.0, self.throttle * THROTTLE_RECOVERY)
        self._apply_throughput()
        caps, cards = view.caps, view.cards
        seen = set()
        for campaign, template, media in view.campaigns:
            seen.add(campaign.id)
            rate = min(ctxmod.campaign_rate(campaign), float(self.throughput))
            ctx = self.campaigns.get(campaign.id)
            if ctx is None:
                ctx = ctxmod.CampaignContext(
                    id=campaign.id, org_id=campaign.org_id, rate=rate,
                    template_name=campaign.template_name or "", language=campaign.template_language or "",
                    variables=campaign.variables or {}, header=None, pacer=Pacer(rate, burst=ctxmod.burst_for(rate)),
                    committed=campaign.committed_cost or 0.0,  # later batches add to it here (``_record_batch``)
                )
                self.campaigns[campaign.id] = ctx
            ctx.rate = rate
            ctx.pacer.rate = rate
            ctx.pacer.burst = ctxmod.burst_for(rate)
            ctx.window.limit = ctxmod.window_for(rate)
            ctx.header = ctxmod.header_for(template, media)
            ctx.positions = ctxmod.positions_of(ctx.variables, template)
            category = template.category if template is not None else None
            ctx.number_marketing = number_marketing
            ctx.marketing_messages = number_marketing is not None and number_marketing.takes(category)
            # Never retried past the Marketing Messages API's time to live (``dispatch/marketing_messages.py``).
            ctx.marketing_retry_days = (number_marketing.retry_days(campaign.marketing_retry_days)
                                        if number_marketing is not None and ctx.marketing_messages
                                        else campaign.marketing_retry_days)
            capped = frequency_cap.is_capped(kind=campaign.kind, exempt=campaign.frequency_cap_exempt,
                                             category=category)
            ctx.frequency_cap = caps.get(campaign.org_id) if capped else None
            ctx.send_window = window_of(campaign)
            ctx.started_at = campaign.started_at
            ctx.card = cards.get(campaign.org_id)
            ctx.category = category_of(category)
            ctx.budget = campaign.budget
            ctx.portfolio = view.portfolio
            # Active again: resumed (a budget pause seen after its commit takes the campaign out of ``rows``).
            ctx.budget_reached = False
            ctx.breaker = settings_of(campaign.breaker)
            ctx.breaker_tripped = False
            ctx.variants = view.variants.get(campaign.id, [])
            ctx.active = True
        for gone in set(self.campaigns) - seen:
            self.campaigns.pop(gone).active = False
        pace = min(self.number_pacer.rate, sum(c.rate for c in self.campaigns.values()))
        self.lane.pace(pace)
        self._size_send_loops(pace)

    def _size_send_loops(self, pace: float) -> None:
        """Enough send loops for ``pace`` (``SEND_LOOP_SECONDS``); never fewer than already run: a loop
        stops only with its sender."""
        wanted = min(self.max_send_loops, max(MIN_SEND_LOOPS, math.ceil(pace * SEND_LOOP_SECONDS)))
        while len(self.send_loops) < wanted:
            self.send_loops.append(asyncio.create_task(self._send_loop()))

    def _apply_throughput(self) -> None:
        allowed = self.throughput * self.throttle
        self.number_pacer.rate = allowed * THROUGHPUT_MARGIN
        self.number_pacer.burst = max(1, int(self.number_pacer.rate / 10))
        self.window.limit = allowed * WINDOW_MARGIN

    async def _refresh_expiring_media(self, rows: list[CampaignRow]) -> bool:
        """Meta forgets an uploaded media id after 30 days: re-upload the stored file before then.
        Returns whether any id changed."""
        now = utcnow()
        changed = False
        for _, _, media in rows:
            if media is None or media.expires_at - now > FRESHNESS_MARGIN:
                continue
            try:
                async with self.database.session() as session:
                    await ensure_fresh_media_id(session, self.client, self.box, media_row_id=media.id)
                log.info("re-uploaded expiring header media %s", media.id)
                changed = True
            except Exception:  # sends carry on; WhatsApp will fail them with 131053 if it is gone
                log.exception("re-uploading header media %s failed", media.id)
        return changed

    async def _claim_next_batch(self) -> bool:
        """Claims one batch for the campaign that is most behind; False when there is nothing to do."""
        now = time.monotonic()
        self.look_again_in = IDLE_SECONDS
        ready = [c for c in self.campaigns.values() if c.active and not c.budget_reached and not c.breaker_tripped
                 and c.idle_until <= now]
        if not ready or self.creds is None:
            resting = [c.idle_until - now for c in self.campaigns.values() if c.active and c.idle_until > now]
            if resting and len(resting) == len(self.campaigns):  # all idle: until the first looks again
                self.look_again_in = min(resting)
            return False
        ctx = min(ready, key=lambda c: c.pacer.backlog_seconds())
        # Paced permits already reserved, plus the queued messages that have not reserved one yet:
        # at the number's pace, and this campaign's own at its pace. Without the latter, a campaign
        # at 36 messages an hour claimed its next message while the last one had not reserved its
        # slot yet, and that message then waited 100 s in ``sending`` for its turn.
        queued = self.queue.qsize() / self.number_pacer.rate
        ahead = max(
            max(ctx.pacer.backlog_seconds(), self.number_pacer.backlog_seconds()) + queued,
            ctx.pacer.backlog_seconds() + ctx.queued / ctx.rate,
        )
        if ahead > PREFETCH_SECONDS:
            # What is ahead drains at the pace: nothing to claim before it is down to the prefetch. (Waking
            # every 50 ms instead cost a hundred numbers 2,000 wake-ups a second.)
            self.look_again_in = ahead - PREFETCH_SECONDS
            return False
        # Claims hold a few seconds of the pace (``CLAIM_SECONDS``, longer for a slow campaign): each costs a
        # transaction to claim and one to record whatever its size, which at 10 msg/s on a hundred numbers
        # was most of the worker. A campaign with a send window claims only the prefetch, so that its
        # windows close on time.
        size = claim_size(ctx.rate, windowed=ctx.send_window is not None, lease=self.send_lease)
        if ctx.drained and not await self.database_work(anything_due, ctx.id):
            # Its last claim found nothing: a read says whether one would now, not a claim's transaction.
            ctx.idle_until = now + IDLE_RECHECK_SECONDS
            return False
        claim_id, outgoing, claimed_any = await self.database_work(claim_batch, ctx, size, self.send_lease)
        ctx.drained = not claimed_any
        if not outgoing:
            # Nothing due: look again in a second (retries become due, the audience grows).
            if not claimed_any:
                ctx.idle_until = now + IDLE_RECHECK_SECONDS
            return claimed_any
        clearance = Clearance(claim_id, [item.message_id for item in outgoing]) if claim_id is not None else None
        batch = Batch(ctx, len(outgoing), claim_id, clearance)
        batch.price = sum(item.price for item in outgoing)
        ctx.in_flight += batch.price
        ctx.queued += len(outgoing)
        for index, item in enumerate(outgoing):
            item.batch = batch
            item.index = index
            self.queue.put_nowait(item)
        return True

    async def _send_loop(self) -> None:
        """One of the pool: sends queued messages one at a time; the last of a batch starts its recording."""
        queue = self.queue
        while True:
            item = await queue.get()
            if item is None:
                return
            if queue.qsize() < LOW_WATER:
                self.queue_full.set()
            batch = item.batch
            assert batch is not None
            ctx = batch.ctx
            ctx.queued -= 1  # it reserves its slot now (``wait_turn``), before any await
            try:
                outcome, reason = await self._send_one(ctx, item)
            except Exception:  # a bug must not leave the batch unrecorded; the send may have left
                log.exception("sending message %s failed unexpectedly", item.message_id)
                outcome, reason = Unknown(item.message_id), None
            if batch.clearance is not None:  # written or given back: our lane stops counting it
                batch.clearance.settle(item.index, self.lane)
            batch.outcomes.append(outcome)
            if isinstance(outcome, (Sent, Unknown)):  # it left, or may have: it counts against the budget
                batch.cost += item.price
            if reason:
                batch.pause_reason = reason
            batch.remaining -= 1
            if batch.remaining == 0:
                self._recording(self._record_batch(batch))  # no outcome comes after the last
            elif time.monotonic() - batch.recorded_at >= RECORD_EVERY_SECONDS:
                # A claim is seconds of pace: what has left so far shows in the stats meanwhile.
                self._recording(self._record_part(batch.take_part(final=False)))

    def _recording(self, recording: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(recording)
        self.recording.add(task)
        task.add_done_callback(self.recording.discard)

    async def _record_batch(self, batch: Batch) -> None:
        """What is left of ``batch`` recorded, its claim deleted."""
        await self._record_part(batch.take_part(final=True))

    async def _record_part(self, part: BatchPart) -> None:
        ctx, recorded = part.ctx, part.recorded
        # Written with the other numbers' parts in the recorder's next round, or given up (logged there):
        # its messages then stay ``claimed`` until their lease runs out; the reaper makes those up to the
        # claim's watermark ``unknown`` and returns the others to ``pending``. Committed either way.
        await self.recorder.record(recorded, self.stop)
        ctx.committed += recorded.cost
        ctx.in_flight -= part.price
        if recorded.pause_reason:
            ctx.active = False

    async def _send_one(self, ctx: ctxmod.CampaignContext, item: Outgoing) -> tuple[Outcome, str | None]:
        if not ctx.active:
            return Released(item.message_id), None
        due_in = max(ctx.pacer.backlog_seconds(), self.number_pacer.backlog_seconds())
        if due_in > self.hold_at_most:
            # The pace was lowered while this message was queued: its slot is far away (an hour, at
            # one message an hour). It goes back to pending until then rather than hold its claim.
            return Retry(item.message_id, utcnow() + timedelta(seconds=due_in), refund_attempt=True), None
        try:
            slot = await self.wait_turn(ctx, item)
        except NotCleared as refused:
            return (Lost(item.message_id) if refused.lost else Released(item.message_id)), None
        if slot is None:
            return Released(item.message_id), None
        # Cleared to leave: counted in our lane until its request is written (here, once, should a
        # connection retry write the body again) or it is given back (``_send_loop``).
        clearance, lane = item.batch.clearance if item.batch is not None else None, self.lane

        def on_write() -> None:
            if clearance is not None:
                clearance.settle(item.index, lane)
            sent(slot)

        if not ctx.active:
            return Released(item.message_id), None
        assert self.creds is not None
        started = time.perf_counter()
        try:
            result = await self.client.send_message(self.creds, item.body, on_write=on_write,
                                                    marketing_messages=item.marketing_messages)
        except WhatsAppError as error:
            self._latency_metric.observe(time.perf_counter() - started)
            metrics.SEND_ERRORS.labels(number=self._label, code=metrics.error_code(error.code, error.http_status)).inc()
            return self._outcome_of_error(ctx, item, error)
        self._latency_metric.observe(time.perf_counter() - started)
        self._sent_metric.inc()
        return Sent(item.message_id, result.wamid, utcnow()), None

    async def wait_turn(self, ctx: ctxmod.CampaignContext, item: Outgoing | None = None) -> list[float] | None:
        """Until this send may leave: its slot in the campaign's and the number's pace, the claim's
        watermark raised to the message (booked with ``takeoff.py`` as soon as the slot is known;
        raises ``NotCleared`` if it could not be), then room in both sliding seconds, the number's spaced
        from the previous send (``CATCH_UP``) — checked last, right before the request is built.
        Returns the number's window slot, which the send restamps (``pacer.sent``) when its request
        is written, so the window counts actual send times; None when the sender stopped during the
        wait for the slot (a wait longer than ``PLAIN_WAIT_SECONDS``). The sliding seconds' waits
        are not cut short: they last a second at most."""
        wait = max(ctx.pacer.reserve(), self.number_pacer.reserve())
        booked = None
        clearance = item.batch.clearance if item is not None and item.batch is not None else None
        if clearance is not None and item is not None:
            if not clearance.covers(item.index):
                booked = self.takeoff.book(item.message_id, clearance.claim_id, time.monotonic() + max(0.0, wait),
                                           self.lane, clearance, item.index)
            elif clearance.front - item.index <= REFILL_AT:  # cleared ahead: ask for more before we run out
                self.takeoff.refill(clearance, self.lane)
        if 0 < wait <= PLAIN_WAIT_SECONDS:
            await asyncio.sleep(wait)
        elif wait > 0 and await sleep_or_stop(self.stop, wait):
            if booked is not None:
                booked.cancel()  # settled or not, the caller gives the message back (and settles it)
            return None
        if booked is not None:
            await self.takeoff.cleared(booked)
        await ctx.window.acquire()
        return await self.window.acquire()

    def _outcome_of_error(
        self, ctx: ctxmod.CampaignContext, item: Outgoing, error: WhatsAppError
    ) -> tuple[Outcome, str | None]:
        """The retry policy's decision (``retry_policy.decide``) as an outcome, and a pause reason."""
        decision = retry_policy.decide(error, item.attempts, marketing_retry_days=ctx.marketing_retry_days)
        now = utcnow()
        if isinstance(decision, retry_policy.RetryAfter):
            at = now + timedelta(seconds=decision.seconds)
            return Retry(item.message_id, at, refund_attempt=decision.refund_attempt, reason=error.human_reason,
                         code=error.code, wait_reason=decision.wait_reason), None
        if isinstance(decision, retry_policy.SlowDown):
            if time.monotonic() - self.throttled_at > 1.0:  # one cut per burst of refusals
                self.throttled_at = time.monotonic()
                self.throttle = max(THROTTLE_FLOOR, self.throttle * THROTTLE_STEP)
            self._apply_throughput()
            return Retry(item.message_id, now + timedelta(seconds=decision.seconds), refund_attempt=True), None
        if isinstance(decision, retry_policy.PauseCampaign):
            ctx.active = False
            return Retry(item.message_id, now, refund_attempt=True), decision.reason
        if isinstance(decision, retry_policy.GiveUp):
            return NotSent(item.message_id, item.contact_id, decision.reason, decision.code, now), None
        return Unknown(item.message_id), None
