"""Transactions that move campaign counters lock rows in one order, so PostgreSQL never has to abort
one of them with "deadlock detected" (issue 17, item 10; the order is written down in
herald.campaigns.counters).

Each case runs two real code paths in two transactions, on two threads with their own event loop
and engine, and makes them interleave the way that deadlocked: each stops after its first lock on
a campaign's row (an UPDATE of ``campaigns`` or ``campaign_stats``, a ``campaigns`` row selected FOR
UPDATE) until the other has taken its
own, then goes on. In the lock order the second one waits for the first instead of locking
anything, the rendezvous times out, and both finish. PostgreSQL only: SQLite has one writer.
"""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event, insert, select

from herald.campaigns import counters
from herald.campaigns.transitions import end_campaign
from herald.dispatch.claim import claim_messages
from herald.dispatch.materialize import materialize_chunk
from herald.dispatch.outcomes import CampaignOutcomes, Sent, record_many
from herald.kit.crypto import SecretBox
from herald.kit.db import Database
from herald.kit.types import utcnow
from herald.models import CampaignMessage, Contact
from herald.webhooks.events import STATUS, StoredEvent, to_payload
from herald.webhooks.statuses import apply_statuses
from herald.whatsapp import StatusEvent
from tests.conftest import TEST_FERNET_KEY, OrgHandle
from tests.dispatch.helpers import stats
from tests.factories import make_active_campaign, make_contacts, make_number
from tests.webhooks.helpers import make_campaign

RENDEZVOUS_SECONDS = 3  # longer than PostgreSQL's deadlock_timeout (1 s), so a cycle is found first
CAMPAIGN_ROW_LOCK = re.compile(
    r"\s*(UPDATE\s+(campaigns|campaign_stats)\b|SELECT\b.*\bFROM\s+campaigns\b.*\bFOR\s+UPDATE)",
    re.IGNORECASE | re.DOTALL,
)

Work = Callable[[Database], Awaitable[None]]


@pytest.fixture(autouse=True)
def postgres_only(db_url: str) -> None:
    if not db_url.startswith("postgresql"):
        pytest.skip("row locks: PostgreSQL only (SQLite locks the whole database for each writer)")


def run_interleaved(url: str, first: Work, second: Work) -> list[BaseException | None]:
    """Runs both, each in a transaction of its own on its own thread, meeting after their first lock
    on a campaign's row; returns what each raised."""
    meet = threading.Barrier(2, timeout=RENDEZVOUS_SECONDS)
    errors: list[BaseException | None] = [None, None]

    def run(index: int, work: Work) -> None:
        async def main() -> None:
            database = Database.connect(url, pool_size=2)
            waited = False

            def after_statement(*args: Any) -> None:
                nonlocal waited
                if not waited and CAMPAIGN_ROW_LOCK.match(args[2]):
                    waited = True
                    try:
                        meet.wait()
                    except threading.BrokenBarrierError:
                        pass  # the other is waiting for our lock: in order

            event.listen(database.engine.sync_engine, "after_cursor_execute", after_statement)
            try:
                await work(database)
            finally:
                await database.dispose()

        try:
            asyncio.run(main())
        except BaseException as error:  # reported to the test
            errors[index] = error

    threads = [threading.Thread(target=run, args=(i, w)) for i, w in enumerate((first, second))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return errors


async def add_messages(database: Database, *, org_id: int, campaign_id: int, statuses: list[str],
                       first_phone: int) -> list[int]:
    """Campaign messages in these statuses (``sent`` ones with wamid ``w<id>``), counted as the engine would."""
    now = utcnow()
    async with database.session() as session:
        contact_ids = (await session.execute(insert(Contact).returning(Contact.id), [
            {"org_id": org_id, "phone": f"+1415555{first_phone + i:04d}", "phone_raw": f"+1415555{first_phone + i:04d}",
             "created_at": now, "updated_at": now} for i in range(len(statuses))
        ])).scalars().all()
        ids = list((await session.execute(insert(CampaignMessage).returning(CampaignMessage.id), [
            {"campaign_id": campaign_id, "contact_id": c, "status": s, "attempts": 0 if s == "pending" else 1,
             "sent_at": now - timedelta(minutes=1) if s == "sent" else None,
             "lease_until": now + timedelta(minutes=2) if s == "sending" else None}
            for c, s in zip(contact_ids, statuses, strict=True)
        ])).scalars().all())
        for message_id, status in zip(ids, statuses, strict=True):
            if status == "sent":
                await session.execute(
                    CampaignMessage.__table__.update().where(CampaignMessage.id == message_id)  # type: ignore[attr-defined]
                    .values(wamid=f"w{message_id}"))
        pending = sum(s in ("pending", "claimed", "sending") for s in statuses)
        await counters.add(session, campaign_id=campaign_id, targeted=len(statuses), pending=pending,
                           sent=len(statuses) - pending)
    return ids


def delivered(message_id: int) -> StoredEvent:
    status = StatusEvent(phone_number_id="1090001", wamid=f"w{message_id}", status="delivered", timestamp=utcnow(),
                         recipient_id="14155550000", recipient_user_id=None,
                         biz_opaque_callback_data=str(message_id), errors=(), pricing_category="marketing")
    return StoredEvent(id=message_id, kind=STATUS, payload=to_payload(status))


async def setup_campaigns(database: Database, org: OrgHandle, count: int) -> list[int]:
    number = await make_number(database, SecretBox(TEST_FERNET_KEY), org_id=org.id, base_url="http://127.0.0.1:9")
    return [await make_campaign(database, org_id=org.id, number_id=number, name=f"C{i}") for i in range(count)]


class TestStatsLockOrder:
    async def test_two_webhook_batches_naming_two_campaigns_in_opposite_orders(
        self, db_url: str, database: Database, org: OrgHandle
    ) -> None:
        first, second = await setup_campaigns(database, org, 2)
        a1, a2 = await add_messages(database, org_id=org.id, campaign_id=first, statuses=["sent", "sent"], first_phone=0)
        b1, b2 = await add_messages(database, org_id=org.id, campaign_id=second, statuses=["sent", "sent"],
                                    first_phone=100)

        def applying(events: list[StoredEvent]) -> Work:
            async def work(db: Database) -> None:
                async with db.transaction() as session:
                    await apply_statuses(session, events)
            return work

        # One batch counts the first campaign, then the second; the other the second, then the first.
        errors = await asyncio.to_thread(run_interleaved, db_url, applying([delivered(a1), delivered(b1)]),
                                         applying([delivered(b2), delivered(a2)]))
        assert errors == [None, None]
        for campaign_id in (first, second):
            assert (await stats(database, campaign_id))["received"] == 2

    async def test_a_sender_recording_its_batch_while_the_campaign_is_ended(
        self, db_url: str, database: Database, org: OrgHandle
    ) -> None:
        (campaign_id,) = await setup_campaigns(database, org, 1)
        claimed, *_ = await add_messages(database, org_id=org.id, campaign_id=campaign_id,
                                         statuses=["sending", "pending", "pending"], first_phone=0)

        async def sender(db: Database) -> None:
            async with db.transaction() as session:
                await record_many(session, [CampaignOutcomes(campaign_id, [Sent(claimed, "wamid.sent", utcnow())])])

        async def ender(db: Database) -> None:
            async with db.session() as session:
                await end_campaign(session, org_id=org.id, campaign_id=campaign_id)

        errors = await asyncio.to_thread(run_interleaved, db_url, sender, ender)
        assert errors == [None, None]
        counted = await stats(database, campaign_id)
        assert (counted["pending"], counted["sent"], counted["not_sent"]) == (0, 1, 2)
        async with database.read_session() as session:
            statuses = (await session.execute(
                select(CampaignMessage.status).where(CampaignMessage.campaign_id == campaign_id)
            )).scalars().all()
        assert sorted(statuses) == ["not_sent", "not_sent", "sent"]

    async def test_a_sender_recording_its_batch_while_the_next_chunk_of_the_audience_is_materialised(
        self, db_url: str, database: Database, org: OrgHandle
    ) -> None:
        number = await make_number(database, SecretBox(TEST_FERNET_KEY), org_id=org.id, base_url="http://127.0.0.1:9")
        await make_contacts(database, org_id=org.id, specs=[{"phone": f"+1415555{i:04d}", "tags": ["all"]}
                                                                  for i in range(4)])
        campaign_id = await make_active_campaign(database, org_id=org.id, number_id=number, audience={"tags_any": ["all"]},
                                                 variables={}, media_row_id=None, bot_flow_id=None)
        async with database.session() as session:  # the first chunk, and a sender's claim in it
            assert await materialize_chunk(session, campaign_id=campaign_id, chunk=2)
        async with database.session() as session:
            ((claimed, _, _),) = (await claim_messages(session, campaign_id=campaign_id, now=utcnow(), limit=1)).rows

        async def sender(db: Database) -> None:
            async with db.transaction() as session:
                await record_many(session, [CampaignOutcomes(campaign_id, [Sent(claimed, "wamid.sent", utcnow())])])

        async def materialiser(db: Database) -> None:
            async with db.session() as session:
                await materialize_chunk(session, campaign_id=campaign_id, chunk=2)

        errors = await asyncio.to_thread(run_interleaved, db_url, sender, materialiser)
        assert errors == [None, None]
        counted = await stats(database, campaign_id)
        assert (counted["targeted"], counted["pending"], counted["sent"]) == (4, 3, 1)
