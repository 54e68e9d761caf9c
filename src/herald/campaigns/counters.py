"""Campaign counters, changed in the same transaction as the message transitions they count.

Reading the stats is then one row read whatever the campaign's size. Every function takes deltas;
callers compute them from the rows their own conditional UPDATEs actually moved.

Lock order. Senders, the webhook applier, replies, the reaper, materialisation and the campaign
transitions all write these rows concurrently (on PostgreSQL, from several workers). Each
transaction takes its row locks in this one order, so two of them never wait on each other in a
cycle (PostgreSQL would abort one: "deadlock detected ... in relation campaign_stats"):

0. the ``send_claims`` rows it raises or deletes (a claim before its messages: ``dispatch/takeoff.py``);
1. the ``campaign_messages`` rows it moves (each statement in message id order);
2. then its campaigns, each level for all of them before the next, each in ascending campaign id:
   a. the ``campaigns`` rows (a transition, the last send time, a materialisation chunk's FOR UPDATE),
   b. their ``campaign_stats`` rows (``add``, ``add_many``),
   c. their detail rows: not-sent reasons and sends per minute (``add_not_sent_reasons``, ``add_sends_many``);
3. last, the ``engagements`` it releases.

So a transaction that changes a campaign row does so before any campaign's counters, and one that
counts for several campaigns goes through them in id order with ``add_per_campaign`` or ``add_many``
(the sender's recorder writes several campaigns' rows, then their counters, one statement each).
A transaction that both counts statuses and pauses campaigns (the webhook applier's round with a
template or quality update in it) can break this order; PostgreSQL then aborts one of the two,
and each is retried (the applier's round, the recorder's parts one by one).
Materialisation inserts a chunk's engagements and messages between 2a and 2b: new rows, which no
other transaction sees before the commit.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from datetime import datetime

from sqlalchemy import Table, bindparam, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from herald.kit.dialect import is_postgres
from herald.models import CampaignNotSentReason, CampaignSendMinute, CampaignStats
from herald.models.campaign_stats import QUALITY_FIELDS, STAT_FIELDS

_FIELDS = frozenset(STAT_FIELDS) | frozenset(QUALITY_FIELDS)
_stats: Table = CampaignStats.__table__  # type: ignore[assignment]


def _insert(session: AsyncSession):  # type: ignore[no-untyped-def]
    return postgresql.insert if is_postgres(session) else sqlite.insert


async def ensure_row(session: AsyncSession, *, campaign_id: int) -> None:
    stmt = _insert(session)(CampaignStats).values(campaign_id=campaign_id, **dict.fromkeys(STAT_FIELDS, 0))
    await session.execute(stmt.on_conflict_do_nothing(index_elements=["campaign_id"]))


async def add(session: AsyncSession, *, campaign_id: int, **deltas: int) -> None:
    changes = {name: getattr(CampaignStats, name) + delta for name, delta in deltas.items() if delta}
    if not changes:
        return
    unknown = set(changes) - _FIELDS
    if unknown:
        raise ValueError(f"unknown counters {unknown}")
    await session.execute(update(CampaignStats).where(CampaignStats.campaign_id == campaign_id).values(**changes))


async def add_cost(session: AsyncSession, *, campaign_id: int, cost: float) -> None:
    """Adds to the actual cost so far (``campaign_stats.cost``: herald.pricing, docs/costs.md)."""
    if not cost:
        return
    await session.execute(
        update(CampaignStats).where(CampaignStats.campaign_id == campaign_id).values(cost=CampaignStats.cost + cost)
    )


async def add_per_campaign(
    session: AsyncSession,
    deltas: Mapping[int, Mapping[str, int]],
    reasons: Mapping[int, Counter[str]] | None = None,
    costs: Mapping[int, float] | None = None,
) -> None:
    """Counters, actual cost and not-sent reasons of several campaigns, in the lock order (the counters
    and cost in ascending campaign id, then the reasons)."""
    reasons = reasons or {}
    costs = costs or {}
    for campaign_id in sorted(set(deltas) | set(costs)):
        await add(session, campaign_id=campaign_id, **deltas.get(campaign_id, {}))
        await add_cost(session, campaign_id=campaign_id, cost=costs.get(campaign_id, 0.0))
    for campaign_id in sorted(reasons):
        await add_not_sent_reasons(session, campaign_id=campaign_id, reasons=reasons[campaign_id])


async def add_many(session: AsyncSession, deltas: Mapping[int, Mapping[str, int]]) -> None:
    """The counters of several campaigns in one statement (an executemany, in ascending campaign id):
    what the sender's recorder writes for every campaign of its round."""
    names = sorted({name for changes in deltas.values() for name, delta in changes.items() if delta})
    if not names:
        return
    unknown = set(names) - _FIELDS
    if unknown:
        raise ValueError(f"unknown counters {unknown}")
    stmt = (update(_stats).where(_stats.c.campaign_id == bindparam("_campaign"))
            .values({name: _stats.c[name] + bindparam(f"_{name}") for name in names}))
    await session.execute(stmt, [
        {"_campaign": campaign_id, **{f"_{name}": deltas[campaign_id].get(name, 0) for name in names}}
        for campaign_id in sorted(deltas) if any(deltas[campaign_id].values())
    ])


async def add_not_sent_reasons(session: AsyncSession, *, campaign_id: int, reasons: Counter[str]) -> None:
    """Adds (or, with negative counts, removes) not-sent reasons."""
    if not reasons:
        return
    insert = _insert(session)
    for reason, count in sorted(reasons.items()):
        if not count:
            continue
        stmt = insert(CampaignNotSentReason).values(campaign_id=campaign_id, reason=reason, count=count)
        stmt = stmt.on_conflict_do_update(
            index_elements=["campaign_id", "reason"], set_={"count": CampaignNotSentReason.count + count}
        )
        await session.execute(stmt)


async def add_sends_many(session: AsyncSession, times: Mapping[int, list[datetime]]) -> None:
    """Counts accepted sends per minute, for the sends-over-time chart: several campaigns in one
    statement (ascending campaign id, then minute)."""
    rows = sorted(
        (campaign_id, minute, count)
        for campaign_id, ts in times.items()
        for minute, count in Counter(int(t.timestamp()) // 60 for t in ts).items()
    )
    if not rows:
        return
    stmt = _insert(session)(CampaignSendMinute)
    stmt = stmt.on_conflict_do_update(
        index_elements=["campaign_id", "minute"], set_={"count": CampaignSendMinute.count + stmt.excluded.count}
    )
    await session.execute(stmt, [{"campaign_id": c, "minute": m, "count": n} for c, m, n in rows])
