"""Claimed is not sent: a claim's watermark rises a tick before its messages' requests leave, in one
statement per tick for every claim due (no write per message), and a crash makes the claimed messages
up to the watermark ``unknown`` and returns the others to ``pending`` (``dispatch/takeoff.py``,
``dispatch/reaper.py``)."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

import pytest
from sqlalchemy import event, func, insert, select, update

from herald.campaigns import counters
from herald.dispatch.claim import claim_messages
from herald.dispatch.database_loop import DatabaseWork
from herald.dispatch.reaper import reap_expired_sends, sweep_ended
from herald.dispatch.takeoff import (
    LEAD,
    MARGIN,
    MAX_AHEAD,
    MAX_MARGIN,
    MAX_TICK,
    Clearance,
    Lane,
    NotCleared,
    Takeoff,
)
from herald.kit.crypto import SecretBox
from herald.kit.db import Database
from herald.kit.types import utcnow
from herald.models import Campaign, CampaignMessage, Contact, SendClaim
from tests.conftest import TEST_FERNET_KEY, OrgHandle
from tests.dispatch.helpers import stats
from tests.factories import make_active_campaign, make_number


async def campaign_with(
    database: Database, org: OrgHandle, statuses: list[str], *, status: str = "paused"
) -> tuple[int, list[int], int]:
    """A campaign (paused: no worker claims it) with one message per status, counted as the engine
    would; its ``claimed`` messages belong to one claim (watermark 0), whose id comes last."""
    number = await make_number(database, SecretBox(TEST_FERNET_KEY), org_id=org.id, base_url="http://127.0.0.1:9",
                               phone_number_id=f"10{time.monotonic_ns()}")
    campaign = await make_active_campaign(database, org_id=org.id, number_id=number, audience=None, variables={},
                                          media_row_id=None, bot_flow_id=None, status=status)
    now = utcnow()
    async with database.session() as session:
        claim = (await session.execute(insert(SendClaim).values(watermark=0).returning(SendClaim.id))).scalar_one()
        taken = (await session.execute(select(func.count()).select_from(Contact))).scalar_one()
        contacts = (await session.execute(insert(Contact).returning(Contact.id), [
            {"org_id": org.id, "phone": f"+1415555{taken + i:04d}", "phone_raw": f"+1415555{taken + i:04d}", "created_at": now,
             "updated_at": now} for i in range(len(statuses))
        ])).scalars().all()
        ids = list((await session.execute(insert(CampaignMessage).returning(CampaignMessage.id), [
            {"campaign_id": campaign, "contact_id": c, "status": s, "attempts": 0 if s == "pending" else 1,
             "lease_until": now + timedelta(minutes=2) if s in ("claimed", "sending") else None,
             "claim_id": claim if s == "claimed" else None}
            for c, s in zip(contacts, statuses, strict=True)
        ])).scalars().all())
        await counters.add(session, campaign_id=campaign, targeted=len(statuses), pending=len(statuses))
    return campaign, ids, claim


async def statuses_of(database: Database, ids: list[int]) -> list[str]:
    async with database.read_session() as session:
        rows = dict((await session.execute(
            select(CampaignMessage.id, CampaignMessage.status).where(CampaignMessage.id.in_(ids))
        )).all())
    return [rows[i] for i in ids]


async def watermark_of(database: Database, claim: int) -> int | None:
    async with database.read_session() as session:
        return (await session.execute(select(SendClaim.watermark).where(SendClaim.id == claim))).scalar_one_or_none()


async def expire(database: Database, ids: list[int]) -> None:
    """Their sender died: their leases ran out."""
    async with database.session() as session:
        await session.execute(
            update(CampaignMessage).where(CampaignMessage.id.in_(ids)).values(lease_until=utcnow() - timedelta(seconds=1))
        )


async def reap(database: Database) -> int:
    async with database.session() as session:
        return await reap_expired_sends(session, now=utcnow())


def count_writes(database: Database) -> list[str]:
    """The UPDATE statements run on the database from now on."""
    seen: list[str] = []

    def record(conn, cursor, statement, *args) -> None:  # type: ignore[no-untyped-def]
        if statement.lstrip().upper().startswith("UPDATE"):
            seen.append(statement.lstrip().split()[1].lower())

    event.listen(database.engine.sync_engine, "before_cursor_execute", record)
    return seen


class TestTakeoff:
    async def test_due_bookings_raise_their_claims_watermark_in_one_statement_and_later_ones_wait(
        self, database: Database, org: OrgHandle
    ) -> None:
        _, ids, claim = await campaign_with(database, org, ["claimed"] * 41)
        takeoff = Takeoff(DatabaseWork(database))
        lane = Lane(rate=10_000)
        writes = count_writes(database)
        stop = asyncio.Event()
        now = time.monotonic()
        due = [takeoff.book(i, claim, now, lane) for i in ids[:40]]
        later = takeoff.book(ids[40], claim, now + 60, lane)
        running = asyncio.create_task(takeoff.run(stop))
        for booking in due:
            await takeoff.cleared(booking)  # returns once the watermark covers the message
        assert await watermark_of(database, claim) == ids[39]
        assert writes == ["send_claims"], "one statement for the forty, and no write of their rows"
        assert not later.done(), "a slot a minute away is not cleared yet"
        stop.set()
        await running
        with pytest.raises(NotCleared) as refused:
            await takeoff.cleared(later)
        assert not refused.value.lost  # still ours: the sender gives it back to pending
        assert await watermark_of(database, claim) == ids[39]

    async def test_one_statement_raises_every_claim_due(self, database: Database, org: OrgHandle) -> None:
        # Several numbers' claims share the worker's takeoff: a tick is still one statement.
        firsts = [await campaign_with(database, org, ["claimed"] * 3) for _ in range(3)]
        takeoff = Takeoff(DatabaseWork(database))
        writes = count_writes(database)
        bookings = [takeoff.book(i, claim, time.monotonic(), Lane(rate=1000)) for _, ids, claim in firsts for i in ids]
        stop = asyncio.Event()
        running = asyncio.create_task(takeoff.run(stop))
        await asyncio.gather(*(takeoff.cleared(b) for b in bookings))
        stop.set()
        await running
        assert [await watermark_of(database, claim) for _, _, claim in firsts] == [ids[-1] for _, ids, _ in firsts]
        assert writes == ["send_claims"]

    async def test_a_watermark_never_goes_down(self, database: Database, org: OrgHandle) -> None:
        _, ids, claim = await campaign_with(database, org, ["claimed"] * 2)
        async with database.session() as session:
            await session.execute(update(SendClaim).where(SendClaim.id == claim).values(watermark=ids[1]))
        takeoff = Takeoff(DatabaseWork(database))
        stop = asyncio.Event()
        running = asyncio.create_task(takeoff.run(stop))
        await takeoff.cleared(takeoff.book(ids[0], claim, time.monotonic(), Lane(rate=1000)))
        stop.set()
        await running
        assert await watermark_of(database, claim) == ids[1]

    async def test_a_claim_taken_back_is_never_cleared(self, database: Database, org: OrgHandle) -> None:
        # Its lease ran out while this worker stalled: the reaper took the claim back (its messages
        # are pending again, perhaps claimed by another worker). Nothing of it may leave from here.
        _, ids, claim = await campaign_with(database, org, ["claimed"] * 3)
        await expire(database, ids)
        assert await reap(database) == 0  # nothing was cleared: all three go back to pending
        takeoff = Takeoff(DatabaseWork(database))
        stop = asyncio.Event()
        running = asyncio.create_task(takeoff.run(stop))
        bookings = [takeoff.book(i, claim, time.monotonic(), Lane(rate=1000)) for i in ids]
        outcomes = await asyncio.gather(*(takeoff.cleared(b) for b in bookings), return_exceptions=True)
        stop.set()
        await running
        assert [getattr(o, "lost", None) for o in outcomes] == [True, True, True]
        assert await statuses_of(database, ids) == ["pending"] * 3
        assert await watermark_of(database, claim) is None

    async def test_an_earlier_booking_is_flushed_in_time_while_a_later_one_waits(
        self, database: Database, org: OrgHandle
    ) -> None:
        # Two numbers share the takeoff: one books a slot 30 s away, then the other one due now. The
        # flush loop, asleep until the first is due, must wake for the second.
        _, (far_id,), far_claim = await campaign_with(database, org, ["claimed"])
        _, (near_id,), near_claim = await campaign_with(database, org, ["claimed"])
        takeoff = Takeoff(DatabaseWork(database))
        stop = asyncio.Event()
        far = takeoff.book(far_id, far_claim, time.monotonic() + 30, Lane())
        running = asyncio.create_task(takeoff.run(stop))
        await asyncio.sleep(0.05)  # the loop is now asleep until the far slot
        near = takeoff.book(near_id, near_claim, time.monotonic() + 0.2, Lane())
        assert takeoff._wake.is_set(), "the loop would sleep on until the far slot (up to a second)"
        await asyncio.wait_for(takeoff.cleared(near), timeout=5)
        assert not far.done()
        stop.set()
        await running
        assert (await watermark_of(database, far_claim), await watermark_of(database, near_claim)) == (0, near_id)

    async def test_a_withdrawn_booking_is_not_cleared(self, database: Database, org: OrgHandle) -> None:
        _, (withdrawn_id,), withdrawn_claim = await campaign_with(database, org, ["claimed"])
        _, (kept_id,), kept_claim = await campaign_with(database, org, ["claimed"])
        takeoff = Takeoff(DatabaseWork(database))
        withdrawn = takeoff.book(withdrawn_id, withdrawn_claim, time.monotonic(), Lane())
        kept = takeoff.book(kept_id, kept_claim, time.monotonic(), Lane())
        withdrawn.cancel()  # the sender stopped before the slot came
        stop = asyncio.Event()
        running = asyncio.create_task(takeoff.run(stop))
        await takeoff.cleared(kept)
        stop.set()
        await running
        assert (await watermark_of(database, withdrawn_claim), await watermark_of(database, kept_claim)) == (0, kept_id)

    async def test_a_sender_behind_its_slots_has_at_most_its_lane_cleared(
        self, database: Database, org: OrgHandle
    ) -> None:
        # Its event loop stalled: thirty slots are overdue, but only a lane's worth (LEAD of its pace)
        # is cleared until those are written; the rest follow as they are.
        _, ids, claim = await campaign_with(database, org, ["claimed"] * 30)
        takeoff = Takeoff(DatabaseWork(database))
        lane = Lane()
        lane.pace(150)
        past = time.monotonic() - 1
        bookings = [takeoff.book(i, claim, past, lane) for i in ids]
        stop = asyncio.Event()
        running = asyncio.create_task(takeoff.run(stop))
        for _ in range(500):  # until the first flush is in (a loaded machine's database may take a while)
            await asyncio.sleep(0.01)
            if lane.marked:
                break
        await asyncio.sleep(0.1)  # further flushes would clear more now, were the lane not full
        # 7 at the shortest lead; the lead grows with slow flushes (a loaded machine), up to a tenth of a second.
        assert lane.limit(LEAD) == 7 <= lane.marked <= lane.limit(MAX_TICK + MAX_MARGIN) == 15
        assert await watermark_of(database, claim) == ids[lane.marked - 1]
        for booking in bookings:  # the sender catches up, writing each as it is cleared
            await takeoff.cleared(booking)
            lane.written()
        stop.set()
        await running
        assert await watermark_of(database, claim) == ids[-1] and lane.marked == 0

    async def test_a_flush_cut_short_refuses_its_messages_instead_of_leaving_them_waiting(
        self, database: Database, org: OrgHandle
    ) -> None:
        # The worker is torn down (its task cancelled) while a flush waits for the database: the send
        # loops waiting on that flush must get an answer, or stopping the worker hangs for ever.
        _, ids, claim = await campaign_with(database, org, ["claimed"])
        entered, never = asyncio.Event(), asyncio.Event()

        class StalledDatabase(DatabaseWork):
            async def now(self, fn, *args):  # type: ignore[no-untyped-def]
                entered.set()
                await never.wait()
                return await fn(self.database, *args)

        takeoff = Takeoff(StalledDatabase(database))
        lane = Lane()
        booking = takeoff.book(ids[0], claim, time.monotonic(), lane)
        running = asyncio.create_task(takeoff.run(asyncio.Event()))
        await asyncio.wait_for(entered.wait(), timeout=5)
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
        with pytest.raises(NotCleared) as refused:
            await asyncio.wait_for(takeoff.cleared(booking), timeout=5)
        assert not refused.value.lost and lane.marked == 0
        assert await watermark_of(database, claim) == 0

    async def test_an_overdue_send_clears_the_next_messages_of_its_claim_so_they_need_no_flush(
        self, database: Database, org: OrgHandle
    ) -> None:
        # At the ceiling nothing paces a send: its slot is due as it books. Waiting for a flush per
        # send would add a tick and a statement to every request; the flush clears ahead instead.
        _, ids, claim = await campaign_with(database, org, ["claimed"] * 40)
        clearance = Clearance(claim, ids)
        takeoff = Takeoff(DatabaseWork(database))
        lane = Lane(rate=10_000)
        writes = count_writes(database)
        stop = asyncio.Event()
        running = asyncio.create_task(takeoff.run(stop))
        await takeoff.cleared(takeoff.book(ids[0], claim, time.monotonic(), lane, clearance, 0))
        assert [clearance.covers(i) for i in range(40)] == [True] * 40
        assert await watermark_of(database, claim) == ids[-1] and writes == ["send_claims"]
        assert lane.marked == 40  # cleared and not written: what a crash now would leave unknown
        for index in range(40):
            clearance.settle(index, lane)
            clearance.settle(index, lane)  # a connection retried the write: counted once
        assert lane.marked == 0
        stop.set()
        await running

    async def test_clearing_ahead_stays_within_the_lane_and_refills_before_the_sends_run_out(
        self, database: Database, org: OrgHandle
    ) -> None:
        _, ids, claim = await campaign_with(database, org, ["claimed"] * 30)
        clearance = Clearance(claim, ids)
        takeoff = Takeoff(DatabaseWork(database))
        lane = Lane()
        lane.pace(150)  # a lane of 7 at the shortest lead
        stop = asyncio.Event()
        running = asyncio.create_task(takeoff.run(stop))
        await takeoff.cleared(takeoff.book(ids[0], claim, time.monotonic() - 1, lane, clearance, 0))
        limit = lane.limit(takeoff.lead)
        assert clearance.front == limit and lane.marked == limit
        assert await watermark_of(database, claim) == ids[limit - 1]
        for index in range(3):  # three written; the next sends find the rest cleared and ask for more
            clearance.settle(index, lane)
        takeoff.refill(clearance, lane)
        for _ in range(100):
            await asyncio.sleep(0.01)
            if clearance.front > limit:
                break
        assert clearance.front == 3 + lane.limit(takeoff.lead) and lane.marked == clearance.front - 3
        assert await watermark_of(database, claim) == ids[clearance.front - 1]
        stop.set()
        await running

    async def test_a_send_booked_ahead_of_its_slot_clears_only_itself(self, database: Database, org: OrgHandle) -> None:
        # Paced sends book up to half a second before their slots: each is cleared a lead ahead of its
        # own slot, and a crash strands no more than that.
        _, ids, claim = await campaign_with(database, org, ["claimed"] * 5)
        clearance = Clearance(claim, ids)
        takeoff = Takeoff(DatabaseWork(database))
        lane = Lane(rate=10_000)
        stop = asyncio.Event()
        running = asyncio.create_task(takeoff.run(stop))
        await takeoff.cleared(takeoff.book(ids[0], claim, time.monotonic() + 0.1, lane, clearance, 0))
        assert clearance.front == 1 and await watermark_of(database, claim) == ids[0]
        stop.set()
        await running

    async def test_messages_given_back_before_they_are_cleared_are_not_counted_in_the_lane(
        self, database: Database, org: OrgHandle
    ) -> None:
        _, ids, claim = await campaign_with(database, org, ["claimed"] * 10)
        clearance = Clearance(claim, ids)
        lane = Lane(rate=10_000)
        for index in (2, 5):  # released (the campaign paused) before any flush reached them
            clearance.settle(index, lane)
        takeoff = Takeoff(DatabaseWork(database))
        stop = asyncio.Event()
        running = asyncio.create_task(takeoff.run(stop))
        await takeoff.cleared(takeoff.book(ids[0], claim, time.monotonic(), lane, clearance, 0))
        assert clearance.front == 10 and lane.marked == 8
        stop.set()
        await running

    async def test_clearing_ahead_is_bounded_at_an_unbounded_pace(self, database: Database, org: OrgHandle) -> None:
        # At the ceiling the lane (a lead of a pace of 100,000/s) is no bound: MAX_AHEAD is.
        _, ids, claim = await campaign_with(database, org, ["claimed"] * (MAX_AHEAD + 50))
        clearance = Clearance(claim, ids)
        takeoff = Takeoff(DatabaseWork(database))
        lane = Lane(rate=100_000)
        stop = asyncio.Event()
        running = asyncio.create_task(takeoff.run(stop))
        await takeoff.cleared(takeoff.book(ids[0], claim, time.monotonic(), lane, clearance, 0))
        assert clearance.front == MAX_AHEAD + 1 == lane.marked
        stop.set()
        await running

    async def test_the_lead_is_a_tenth_of_a_second_at_most(self) -> None:
        # What a crash can strand as possibly-sent-but-never-sent is one tick of pace.
        assert 0 < LEAD <= MAX_TICK + MARGIN <= 0.1


class TestReaper:
    async def test_a_dead_senders_messages_up_to_the_watermark_become_unknown_and_the_rest_go_back(
        self, database: Database, org: OrgHandle
    ) -> None:
        campaign, ids, claim = await campaign_with(database, org, ["claimed"] * 4 + ["sending", "pending"])
        async with database.session() as session:  # the first two were cleared to leave
            await session.execute(update(SendClaim).where(SendClaim.id == claim).values(watermark=ids[1]))
        await expire(database, ids[:5])
        assert await reap(database) == 3
        assert await statuses_of(database, ids) == ["unknown", "unknown", "pending", "pending", "unknown", "pending"]
        async with database.read_session() as session:
            rows = {m.id: m for m in (await session.execute(select(CampaignMessage).where(CampaignMessage.id.in_(ids)))).scalars()}
        assert rows[ids[2]].attempts == 0 and rows[ids[2]].lease_until is None  # as if never claimed
        assert rows[ids[0]].unknown_since is not None and rows[ids[4]].unknown_since is not None
        assert await watermark_of(database, claim) is None, "the claim is taken back"
        counts = await stats(database, campaign)
        assert (counts["pending"], counts["unknown"]) == (3, 3)

    async def test_live_claims_are_left_alone(self, database: Database, org: OrgHandle) -> None:
        _, ids, claim = await campaign_with(database, org, ["claimed", "claimed", "sending"])
        async with database.session() as session:
            await session.execute(update(SendClaim).where(SendClaim.id == claim).values(watermark=ids[0]))
        assert await reap(database) == 0
        assert await statuses_of(database, ids) == ["claimed", "claimed", "sending"]
        assert await watermark_of(database, claim) == ids[0]

    async def test_claimed_rows_of_an_older_version_go_back_to_pending(self, database: Database, org: OrgHandle) -> None:
        # Claimed before the upgrade (no claim): under the old rule their requests had not left.
        _, ids, _ = await campaign_with(database, org, ["claimed", "claimed"])
        async with database.session() as session:
            await session.execute(update(CampaignMessage).where(CampaignMessage.id.in_(ids)).values(claim_id=None))
        await expire(database, ids)
        assert await reap(database) == 0
        assert await statuses_of(database, ids) == ["pending", "pending"]

    async def test_claiming_after_a_crash_takes_the_returned_messages(self, database: Database, org: OrgHandle) -> None:
        campaign, ids, _ = await campaign_with(database, org, ["pending"] * 3, status="active")
        async with database.session() as session:
            first = await claim_messages(session, campaign_id=campaign, now=utcnow(), limit=3, lease=timedelta(seconds=-1))
        assert [c[0] for c in first.rows] == ids
        assert await statuses_of(database, ids) == ["claimed"] * 3
        assert await watermark_of(database, first.claim_id) == 0
        await reap(database)
        async with database.session() as session:
            again = await claim_messages(session, campaign_id=campaign, now=utcnow(), limit=3, lease=timedelta(minutes=2))
        assert [(c[0], c[2]) for c in again.rows] == [(i, 1) for i in ids]  # the same messages, first attempt again
        assert again.claim_id > first.claim_id, "a claim id is never handed out twice"

    async def test_messages_given_back_to_an_ended_campaign_are_not_sent(self, database: Database, org: OrgHandle) -> None:
        campaign, ids, _ = await campaign_with(database, org, ["pending", "pending"])
        async with database.session() as session:
            await session.execute(update(Campaign).where(Campaign.id == campaign).values(status="ended", ended_at=utcnow()))
        async with database.session() as session:
            assert await sweep_ended(session, now=utcnow()) == 2
        assert await statuses_of(database, ids) == ["not_sent", "not_sent"]
        counts = await stats(database, campaign)
        assert (counts["pending"], counts["not_sent"]) == (0, 2)
