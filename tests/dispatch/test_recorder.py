"""The recorder writes the parts of batches every number of a worker hands in together, one
transaction per round, and a part the database refuses does not take the others with it
(``dispatch/recorder.py``, ``repository.record_parts``, ``outcomes.record_many``)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import select

from herald.dispatch.database_loop import DatabaseWork
from herald.dispatch.outcomes import NotSent, Retry, Sent, Unknown
from herald.dispatch.recorder import RECORD_ATTEMPTS, Recorder
from herald.dispatch.repository import PartToRecord
from herald.kit.db import Database
from herald.kit.types import utcnow
from herald.models import Campaign, SendClaim
from tests.conftest import OrgHandle
from tests.dispatch.helpers import stats
from tests.dispatch.test_takeoff import campaign_with, statuses_of


class CountingWork(DatabaseWork):
    """The real database work, counting the transactions it was asked for."""

    def __init__(self, database: Database) -> None:
        super().__init__(database)
        self.calls: list[int] = []  # how many parts each call wrote

    async def __call__(self, fn: Callable[..., Awaitable[Any]], *args: Any) -> Any:
        self.calls.append(len(args[0]))
        return await fn(self.database, *args)


async def test_parts_of_many_campaigns_handed_in_together_are_one_transaction(
    database: Database, org: OrgHandle
) -> None:
    campaigns = [await campaign_with(database, org, ["claimed"] * 4) for _ in range(5)]
    work = CountingWork(database)
    recorder = Recorder(work)
    stop = asyncio.Event()
    now = utcnow()
    parts = []
    for campaign_id, ids, claim in campaigns:
        # Two parts per batch, the last one deleting its claim: sent, sent / unknown, retried.
        parts.append(PartToRecord(campaign_id, [Sent(ids[0], f"wamid.{ids[0]}", now), Sent(ids[1], f"wamid.{ids[1]}", now)],
                                  cost=0.02))
        parts.append(PartToRecord(campaign_id, [Unknown(ids[2]), Retry(ids[3], now, refund_attempt=True)],
                                  claim_id=claim, cost=0.01))

    assert await asyncio.gather(*(recorder.record(p, stop) for p in parts)) == [True] * len(parts)

    assert work.calls == [len(parts)]  # one round, one transaction
    for campaign_id, ids, claim in campaigns:
        assert await statuses_of(database, ids) == ["sent", "sent", "unknown", "pending"]
        counted = await stats(database, campaign_id)
        assert (counted["sent"], counted["unknown"], counted["pending"]) == (2, 1, 1)
        async with database.read_session() as session:
            assert (await session.execute(select(SendClaim).where(SendClaim.id == claim))).first() is None
            cost = (await session.execute(select(Campaign.committed_cost).where(Campaign.id == campaign_id))).scalar_one()
        assert abs(cost - 0.03) < 1e-9


async def test_a_part_the_database_refuses_does_not_take_the_others_with_it(database: Database, org: OrgHandle) -> None:
    good_campaign, good_ids, good_claim = await campaign_with(database, org, ["claimed", "claimed"])
    bad_campaign, bad_ids, _ = await campaign_with(database, org, ["pending"])
    work = CountingWork(database)
    recorder = Recorder(work)
    stop = asyncio.Event()
    stop.set()  # its retries go at once, without the back-off
    now = utcnow()
    good = PartToRecord(good_campaign, [Sent(i, f"wamid.{i}", now) for i in good_ids], claim_id=good_claim)
    # Not held by any sender (pending): recording it as not sent is refused, in every attempt.
    bad = PartToRecord(bad_campaign, [NotSent(bad_ids[0], 0, "x", 131026, now)])

    assert await asyncio.gather(recorder.record(good, stop), recorder.record(bad, stop)) == [True, False]

    assert await statuses_of(database, good_ids) == ["sent", "sent"]
    assert (await stats(database, good_campaign))["sent"] == 2
    assert await statuses_of(database, bad_ids) == ["pending"]
    # The round of both, then each alone: the good one once, the bad one for all its attempts.
    assert work.calls == [2] + [1] * (1 + RECORD_ATTEMPTS)

