"""Claimed is not sending: messages turn ``sending`` a tick before their requests leave, in one
statement per tick, and a crash returns the ``claimed`` ones to ``pending`` (``dispatch/takeoff.py``,
``dispatch/reaper.py``)."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

import pytest
from sqlalchemy import event, insert, select, update

from herald.campaigns import counters
from herald.dispatch.claim import claim_messages
from herald.dispatch.database_loop import DatabaseWork
from herald.dispatch.reaper import reap_expired_sends, sweep_ended
from herald.dispatch.takeoff import LEAD, MARGIN, MAX_TICK, Lane, NotCleared, Takeoff
from herald.kit.crypto import SecretBox
from herald.kit.db import Database
from herald.kit.types import utcnow
from herald.models import Campaign, CampaignMessage, Contact
from tests.conftest import TEST_FERNET_KEY, OrgHandle
from tests.dispatch.helpers import stats
from tests.factories import make_active_campaign, make_number


async def campaign_with(database: Database, org: OrgHandle, statuses: list[str], *, status: str = "paused") -> tuple[int, list[int]]:
    """A campaign (paused: no worker claims it) with one message per status, counted as the engine would."""
    number = await make_number(database, SecretBox(TEST_FERNET_KEY), org_id=org.id, base_url="http://127.0.0.1:9")
    campaign = await make_active_campaign(database, org_id=org.id, number_id=number, audience=None, variables={},
                                          media_row_id=None, bot_flow_id=None, status=status)
    now = utcnow()
    async with database.session() as session:
        contacts = (await session.execute(insert(Contact).returning(Contact.id), [
            {"org_id": org.id, "phone": f"+1415555{i:04d}", "phone_raw": f"+1415555{i:04d}", "created_at": now,
             "updated_at": now} for i in range(len(statuses))
        ])).scalars().all()
        ids = list((await session.execute(insert(CampaignMessage).returning(CampaignMessage.id), [
            {"campaign_id": campaign, "contact_id": c, "status": s, "attempts": 0 if s == "pending" else 1,
             "lease_until": now + timedelta(minutes=2) if s in ("claimed", "sending") else None}
            for c, s in zip(contacts, statuses, strict=True)
        ])).scalars().all())
        await counters.add(session, campaign_id=campaign, targeted=len(statuses), pending=len(statuses))
    return campaign, ids


async def statuses_of(database: Database, ids: list[int]) -> list[str]:
    async with database.read_session() as session:
        rows = dict((await session.execute(
            select(CampaignMessage.id, CampaignMessage.status).where(CampaignMessage.id.in_(ids))
        )).all())
    return [rows[i] for i in ids]


def count_updates(database: Database) -> list[str]:
    """The UPDATE statements run on the database from now on."""
    seen: list[str] = []

    def record(conn, cursor, statement, *args) -> None:  # type: ignore[no-untyped-def]
        if statement.lstrip().upper().startswith("UPDATE CAMPAIGN_MESSAGES"):
            seen.append(statement)

    event.listen(database.engine.sync_engine, "before_cursor_execute", record)
    return seen


class TestTakeoff:
    async def test_due_bookings_are_marked_sending_together_and_later_ones_wait(
        self, database: Database, org: OrgHandle
    ) -> None:
        _, ids = await campaign_with(database, org, ["claimed"] * 41)
        takeoff = Takeoff(DatabaseWork(database))
        lane = Lane(rate=10_000)
        updates = count_updates(database)
        stop = asyncio.Event()
        now = time.monotonic()
        due = [takeoff.book(i, now, lane) for i in ids[:40]]
        later = takeoff.book(ids[40], now + 60, lane)
        running = asyncio.create_task(takeoff.run(stop))
        for booking in due:
            await takeoff.cleared(booking)  # returns once the message is marked
        assert await statuses_of(database, ids) == ["sending"] * 40 + ["claimed"]
        assert len(updates) == 1, "one statement for the forty, not one each"
        assert not later.done(), "a slot a minute away is not marked sending yet"
        stop.set()
        await running
        with pytest.raises(NotCleared) as refused:
            await takeoff.cleared(later)
        assert not refused.value.lost  # still ours: the sender gives it back to pending
        assert await statuses_of(database, ids[40:]) == ["claimed"]

    async def test_a_message_no_longer_claimed_by_us_is_never_cleared(self, database: Database, org: OrgHandle) -> None:
        # Its lease ran out while this worker stalled: the reaper gave it back, another worker took it.
        _, ids = await campaign_with(database, org, ["pending", "sending", "claimed"])
        takeoff = Takeoff(DatabaseWork(database))
        stop = asyncio.Event()
        running = asyncio.create_task(takeoff.run(stop))
        bookings = [takeoff.book(i, time.monotonic(), Lane(rate=1000)) for i in ids]
        outcomes = await asyncio.gather(*(takeoff.cleared(b) for b in bookings), return_exceptions=True)
        stop.set()
        await running
        assert [getattr(o, "lost", None) for o in outcomes] == [True, True, None]
        assert await statuses_of(database, ids) == ["pending", "sending", "sending"]

    async def test_an_earlier_booking_is_flushed_in_time_while_a_later_one_waits(
        self, database: Database, org: OrgHandle
    ) -> None:
        # Two numbers share the takeoff: one books a slot 30 s away, then the other one due now. The
        # flush loop, asleep until the first is due, must wake for the second.
        _, ids = await campaign_with(database, org, ["claimed", "claimed"])
        takeoff = Takeoff(DatabaseWork(database))
        stop = asyncio.Event()
        far = takeoff.book(ids[0], time.monotonic() + 30, Lane())
        running = asyncio.create_task(takeoff.run(stop))
        await asyncio.sleep(0.05)  # the loop is now asleep until the far slot
        near = takeoff.book(ids[1], time.monotonic() + 0.2, Lane())
        assert takeoff._wake.is_set(), "the loop would sleep on until the far slot (up to a second)"
        await asyncio.wait_for(takeoff.cleared(near), timeout=5)
        assert not far.done()
        stop.set()
        await running
        assert await statuses_of(database, ids) == ["claimed", "sending"]

    async def test_a_withdrawn_booking_is_not_marked(self, database: Database, org: OrgHandle) -> None:
        _, ids = await campaign_with(database, org, ["claimed", "claimed"])
        takeoff = Takeoff(DatabaseWork(database))
        withdrawn = takeoff.book(ids[0], time.monotonic(), Lane())
        kept = takeoff.book(ids[1], time.monotonic(), Lane())
        withdrawn.cancel()  # the sender stopped before the slot came
        stop = asyncio.Event()
        running = asyncio.create_task(takeoff.run(stop))
        await takeoff.cleared(kept)
        stop.set()
        await running
        assert await statuses_of(database, ids) == ["claimed", "sending"]

    async def test_a_sender_behind_its_slots_has_at_most_its_lane_marked(
        self, database: Database, org: OrgHandle
    ) -> None:
        # Its event loop stalled: thirty slots are overdue, but only a lane's worth (LEAD of its pace)
        # turns sending until those are written; the rest follow as they are.
        _, ids = await campaign_with(database, org, ["claimed"] * 30)
        takeoff = Takeoff(DatabaseWork(database))
        lane = Lane()
        lane.pace(150)
        past = time.monotonic() - 1
        bookings = [takeoff.book(i, past, lane) for i in ids]
        stop = asyncio.Event()
        running = asyncio.create_task(takeoff.run(stop))
        for _ in range(50):
            await asyncio.sleep(0.01)
        assert lane.limit(LEAD) == 7 and lane.marked == 7
        assert (await statuses_of(database, ids)).count("sending") == 7
        for booking in bookings:  # the sender catches up, writing each as it is cleared
            await takeoff.cleared(booking)
            lane.written()
        stop.set()
        await running
        assert await statuses_of(database, ids) == ["sending"] * 30 and lane.marked == 0

    async def test_a_flush_cut_short_refuses_its_messages_instead_of_leaving_them_waiting(
        self, database: Database, org: OrgHandle
    ) -> None:
        # The worker is torn down (its task cancelled) while a flush waits for the database: the send
        # loops waiting on that flush must get an answer, or stopping the worker hangs for ever.
        _, ids = await campaign_with(database, org, ["claimed"])
        entered, never = asyncio.Event(), asyncio.Event()

        class StalledDatabase(DatabaseWork):
            async def __call__(self, fn, *args):  # type: ignore[no-untyped-def]
                entered.set()
                await never.wait()
                return await fn(self.database, *args)

        takeoff = Takeoff(StalledDatabase(database))
        lane = Lane()
        booking = takeoff.book(ids[0], time.monotonic(), lane)
        running = asyncio.create_task(takeoff.run(asyncio.Event()))
        await asyncio.wait_for(entered.wait(), timeout=5)
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
        with pytest.raises(NotCleared) as refused:
            await asyncio.wait_for(takeoff.cleared(booking), timeout=5)
        assert not refused.value.lost and lane.marked == 0
        assert await statuses_of(database, ids) == ["claimed"]

    async def test_the_lead_is_a_tenth_of_a_second_at_most(self) -> None:
        # The bound: what a crash can strand as sending-but-never-sent is one tick of pace.
        assert 0 < LEAD <= MAX_TICK + MARGIN <= 0.1


class TestReaper:
    async def test_a_dead_senders_claimed_rows_go_back_and_its_sending_rows_become_unknown(
        self, database: Database, org: OrgHandle
    ) -> None:
        campaign, ids = await campaign_with(database, org, ["claimed", "sending", "claimed", "sending", "pending"])
        past = utcnow() - timedelta(seconds=1)
        async with database.session() as session:  # the first two leases ran out: their sender died
            await session.execute(update(CampaignMessage).where(CampaignMessage.id.in_(ids[:2])).values(lease_until=past))
        async with database.session() as session:
            assert await reap_expired_sends(session, now=utcnow()) == 1
        assert await statuses_of(database, ids) == ["pending", "unknown", "claimed", "sending", "pending"]
        async with database.read_session() as session:
            rows = {m.id: m for m in (await session.execute(select(CampaignMessage).where(CampaignMessage.id.in_(ids)))).scalars()}
        assert rows[ids[0]].attempts == 0 and rows[ids[0]].lease_until is None  # as if never claimed
        assert rows[ids[1]].unknown_since is not None
        counts = await stats(database, campaign)
        assert (counts["pending"], counts["unknown"]) == (4, 1)

    async def test_claiming_after_a_crash_takes_the_returned_messages(self, database: Database, org: OrgHandle) -> None:
        campaign, ids = await campaign_with(database, org, ["pending"] * 3, status="active")
        async with database.session() as session:
            claimed = await claim_messages(session, campaign_id=campaign, now=utcnow(), limit=3, lease=timedelta(seconds=-1))
        assert [c[0] for c in claimed] == ids
        assert await statuses_of(database, ids) == ["claimed"] * 3
        async with database.session() as session:
            await reap_expired_sends(session, now=utcnow())
        async with database.session() as session:
            again = await claim_messages(session, campaign_id=campaign, now=utcnow(), limit=3, lease=timedelta(minutes=2))
        assert [(c[0], c[2]) for c in again] == [(i, 1) for i in ids]  # the same messages, first attempt again

    async def test_messages_given_back_to_an_ended_campaign_are_not_sent(self, database: Database, org: OrgHandle) -> None:
        campaign, ids = await campaign_with(database, org, ["pending", "pending"])
        async with database.session() as session:
            await session.execute(update(Campaign).where(Campaign.id == campaign).values(status="ended", ended_at=utcnow()))
        async with database.session() as session:
            assert await sweep_ended(session, now=utcnow()) == 2
        assert await statuses_of(database, ids) == ["not_sent", "not_sent"]
        counts = await stats(database, campaign)
        assert (counts["pending"], counts["not_sent"]) == (0, 2)
