"""Audience materialisation: the segment becomes campaign messages and engagements, in keyset chunks.

Each chunk is one transaction that also advances the campaign's ``materialize_cursor`` and its
counters, so a worker that dies mid-way leaves a state the next run continues from exactly.

A follow-up's audience is its snapshot (``campaign_audience_snapshots``, narrowed by its segment):
its chunks walk the snapshot's primary key rather than the organization's contacts, and the snapshot
is a semi-join bounded to the chunk's range like the tag subqueries.

PostgreSQL does a chunk in one statement (data-modifying CTEs: the segment is read once, and the
messages are counted from what was inserted); SQLite, which has no DML in CTEs, does it in three.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Integer,
    Select,
    and_,
    case,
    func,
    literal,
    select,
    text,
    update,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import visitors

from herald.campaigns import counters, experiment, reasons
from herald.campaigns.lifecycle import RUNNING
from herald.campaigns.segments import segment_filter
from herald.contacts.audience_lock import hold_audience_lock
from herald.jobs.runner import Interrupted
from herald.kit.db import Database
from herald.kit.dialect import insert, is_postgres
from herald.kit.types import utcnow
from herald.models import (
    AudienceSnapshot,
    Campaign,
    CampaignMessage,
    Contact,
    ContactTag,
    ContactValuedTag,
    Engagement,
    MessageStatus,
)

SQLITE_CHUNK = 20_000
POSTGRES_CHUNK = 50_000


async def materialize_job(database: Database, payload: dict[str, Any], *, stop: asyncio.Event | None = None) -> None:
    """Chunk after chunk until the audience is done; a stop interrupts it between two chunks (the
    next run continues from the campaign's cursor)."""
    campaign_id = int(payload["campaign_id"])
    while True:
        if stop is not None and stop.is_set():
            raise Interrupted
        async with database.session() as session:
            if not await materialize_chunk(session, campaign_id=campaign_id):
                return


async def materialize_chunk(session: AsyncSession, *, campaign_id: int, chunk: int | None = None) -> bool:
    """Materialises the next chunk; False once the whole audience is done (or the campaign ended)."""
    campaign = (
        await session.execute(select(Campaign).where(Campaign.id == campaign_id).with_for_update())
    ).scalar_one_or_none()
    if campaign is None or campaign.status not in RUNNING or campaign.materialized_at is not None:
        return False
    postgres = is_postgres(session)
    if postgres:
        await hold_audience_lock(session, org_id=campaign.org_id)
    snapshot_of = campaign.id if campaign.followup_outcome is not None else None
    where = await segment_filter(
        session, org_id=campaign.org_id, audience=campaign.audience, contact_ids=campaign.test_contact_ids,
        snapshot_of=snapshot_of,
    )
    lo = campaign.materialize_cursor
    size = chunk or (POSTGRES_CHUNK if postgres else SQLITE_CHUNK)
    if snapshot_of is not None:
        hi = await _snapshot_chunk_end(session, campaign_id=snapshot_of, after=lo, chunk=size)
    else:
        hi = await _chunk_end(session, org_id=campaign.org_id, after=lo, chunk=size)
    if hi is None:
        await session.execute(update(Campaign).where(Campaign.id == campaign_id).values(materialized_at=utcnow()))
        return False
    groups = await _groups_of(session, campaign)
    if postgres:
        rows = await _materialize_range_postgres(
            session, campaign_id=campaign_id, where=where, lo=lo, hi=hi, groups=groups)
    else:
        rows = await _materialize_range_sqlite(session, campaign_id=campaign_id, where=where, lo=lo, hi=hi, groups=groups)
    await _count(session, campaign_id=campaign_id, rows=rows)
    await session.execute(update(Campaign).where(Campaign.id == campaign_id).values(materialize_cursor=hi))
    return True


class Groups:
    """A campaign's holdout share and variant split, drawn per contact in SQL (``campaigns/experiment.py``)."""

    __slots__ = ("seed", "holdout_percent", "shares")

    def __init__(self, seed: int, holdout_percent: float, shares: list[float]) -> None:
        self.seed = seed
        self.holdout_percent = holdout_percent
        self.shares = shares

    def held(self, contact_id: Any) -> ColumnElement[bool] | None:
        cut = experiment.holdout_cut(self.holdout_percent)
        return experiment.draw_sql(self.seed, experiment.HOLDOUT_KEY, contact_id) < cut if cut > 0 else None

    def variant(self, contact_id: Any) -> ColumnElement[Any] | None:
        return experiment.variant_sql(self.seed, self.shares, contact_id) if self.shares else None


async def _groups_of(session: AsyncSession, campaign: Campaign) -> Groups | None:
    """None for a plain campaign (the statements stay as they were); the seed is drawn once, here if
    the campaign has none yet, and kept on the campaign so a resumed materialisation draws the same."""
    shares = experiment.shares_of(campaign.variants) if campaign.variants else []
    if not campaign.holdout_percent and not shares:
        return None
    seed = campaign.experiment_seed
    if seed is None:
        seed = experiment.new_seed()
        await session.execute(update(Campaign).where(Campaign.id == campaign.id).values(experiment_seed=seed))
    return Groups(seed, campaign.holdout_percent or 0.0, shares)


async def _chunk_end(session: AsyncSession, *, org_id: int, after: int, chunk: int) -> int | None:
    """The last contact id of the next ``chunk`` contacts of the organization, on its (org_id, id)
    index: cheaper than ranking the segment itself, which the INSERT … SELECT filters anyway."""
    ids = select(Contact.id).where(Contact.org_id == org_id, Contact.id > after)
    end = (await session.execute(ids.order_by(Contact.id).offset(chunk - 1).limit(1))).scalar_one_or_none()
    if end is not None:
        return int(end)
    last = (await session.execute(select(func.max(Contact.id)).where(Contact.org_id == org_id, Contact.id > after))).scalar_one_or_none()
    return int(last) if last is not None else None


async def _snapshot_chunk_end(session: AsyncSession, *, campaign_id: int, after: int, chunk: int) -> int | None:
    """As ``_chunk_end``, over a follow-up's snapshot (its primary key): a small snapshot in a big
    organization is a chunk or two, not a walk over every contact."""
    ids = select(AudienceSnapshot.contact_id).where(
        AudienceSnapshot.campaign_id == campaign_id, AudienceSnapshot.contact_id > after
    )
    end = (await session.execute(ids.order_by(AudienceSnapshot.contact_id).offset(chunk - 1).limit(1))).scalar_one_or_none()
    if end is not None:
        return int(end)
    last = (await session.execute(
        select(func.max(AudienceSnapshot.contact_id))
        .where(AudienceSnapshot.campaign_id == campaign_id, AudienceSnapshot.contact_id > after)
    )).scalar_one_or_none()
    return int(last) if last is not None else None


def _within(where: ColumnElement[bool], lo: int, hi: int) -> ColumnElement[bool]:
    """The segment restricted to contacts ``lo < id <= hi``, the range repeated inside each tag
    subquery: PostgreSQL does not carry a range across the correlation and would otherwise hash the
    whole tag table for every chunk (quadratic in the audience)."""

    def bound(element: Any, **_: Any) -> Any:
        if isinstance(element, Select):
            froms = element.get_final_froms()
            for table in (ContactTag.__table__, ContactValuedTag.__table__, AudienceSnapshot.__table__):
                if table in froms:
                    return element.where(table.c.contact_id > lo, table.c.contact_id <= hi)
        return None

    options: dict[str, Any] = {}
    bounded = visitors.replacement_traverse(where, options, bound)
    return and_(bounded, Contact.id > lo, Contact.id <= hi)


def _status_and_reason(opted_out: Any, engaged_here: Any, held: Any = None) -> tuple[Any, Any]:
    """ARCHITECTURE section 3, rules 2 and 3, in that order; then an engaged contact drawn into the
    holdout is held out (engaged all the same: no other campaign reaches it while this one runs)."""
    engaged_whens: list[tuple[Any, Any]] = [(engaged_here, MessageStatus.pending.value)]
    if held is not None:
        engaged_whens.insert(0, (and_(engaged_here, held), MessageStatus.holdout.value))
    status = case(
        (opted_out, MessageStatus.not_sent.value), *engaged_whens,
        else_=MessageStatus.not_sent.value,
    )
    reason = case((opted_out, reasons.OPTED_OUT), (engaged_here, None), else_=reasons.ALREADY_ENGAGED)
    return status, reason


def _variant(opted_out: Any, engaged_here: Any, held: Any, variant: Any) -> Any:
    """The drawn variant of a message that will be sent; NULL for the others."""
    sent = and_(~opted_out, engaged_here) if held is None else and_(~opted_out, engaged_here, ~held)
    return case((sent, variant), else_=None)


# Planner settings for a PostgreSQL chunk, for its transaction only. A chunk is over
# jit_above_cost, and compiling costs more than it saves on this plan. Nested loops are off: right
# after a bulk import (before autovacuum has analysed the new rows) the planner estimates one row
# per table and joins the chunk's contacts to their tags, and the segment to what was engaged, in
# nested loops — quadratic in the chunk: 45 s for 20,000 contacts instead of 0.2 s. A chunk is a
# bulk join of ranges, where hash and merge joins are right whatever the statistics say.
POSTGRES_CHUNK_SETTINGS = "SELECT set_config('jit', 'off', true), set_config('enable_nestloop', 'off', true)"


async def _materialize_range_postgres(
    session: AsyncSession, *, campaign_id: int, where: ColumnElement[bool], lo: int, hi: int, groups: Groups | None
) -> list[tuple[str, str | None, int]]:
    await session.execute(text(POSTGRES_CHUNK_SETTINGS))
    counted = postgres_chunk_statement(campaign_id=campaign_id, where=where, lo=lo, hi=hi, groups=groups)
    return [(s, r, int(n)) for s, r, n in (await session.execute(counted))]


def postgres_chunk_statement(
    *, campaign_id: int, where: ColumnElement[bool], lo: int, hi: int, groups: Groups | None = None
) -> Select[Any]:
    """One statement for the chunk: engage, insert the messages, and count them by status and reason."""
    segment = select(Contact.id, Contact.opted_out_at).where(_within(where, lo, hi)).cte("segment")
    # The engagements primary key (contact_id) decides who is already in another active campaign.
    engaged = (
        postgresql.insert(Engagement)
        .from_select(
            ["contact_id", "campaign_id", "engaged_at"],
            select(segment.c.id, literal(campaign_id, BigInteger), literal(utcnow(), Engagement.engaged_at.type))
            .where(segment.c.opted_out_at.is_(None)),
        )
        .on_conflict_do_nothing(index_elements=["contact_id"])
        .returning(Engagement.contact_id)
        .cte("engaged")
    )
    # Pending = engaged by this very statement: a chunk commits with the cursor that moves past it, so
    # no contact of the range can already be engaged in this campaign.
    opted_out, engaged_here = segment.c.opted_out_at.is_not(None), engaged.c.contact_id.is_not(None)
    held = groups.held(segment.c.id) if groups is not None else None
    status, reason = _status_and_reason(opted_out, engaged_here, held)
    columns = ["campaign_id", "contact_id", "status", "error_msg", "attempts"]
    values: list[Any] = [literal(campaign_id, BigInteger), segment.c.id, status, reason, literal(0, Integer)]
    variant = groups.variant(segment.c.id) if groups is not None else None
    if variant is not None:
        columns.append("variant")
        values.append(_variant(opted_out, engaged_here, held, variant))
    rows = select(*values).select_from(segment.outerjoin(engaged, engaged.c.contact_id == segment.c.id))
    # No ON CONFLICT here (its speculative insertion cost ~15 % of a chunk): the cursor advances in
    # this same transaction and chunks of one campaign are serialised on its row lock, so a chunk's
    # messages cannot exist yet; the unique key would turn a bug into an error, not a double send.
    messages = (
        postgresql.insert(CampaignMessage)
        .from_select(columns, rows)
        .returning(CampaignMessage.status, CampaignMessage.error_msg)
        .cte("messages")
    )
    return select(messages.c.status, messages.c.error_msg, func.count()).group_by(
        messages.c.status, messages.c.error_msg
    )


async def _materialize_range_sqlite(
    session: AsyncSession, *, campaign_id: int, where: ColumnElement[bool], lo: int, hi: int, groups: Groups | None
) -> list[tuple[str, str | None, int]]:
    in_range = and_(where, Contact.id > lo, Contact.id <= hi)
    eligible = select(Contact.id, literal(campaign_id), literal(utcnow(), type_=Engagement.engaged_at.type)).where(
        in_range, Contact.opted_out_at.is_(None)
    )
    engage = insert(session, Engagement).from_select(["contact_id", "campaign_id", "engaged_at"], eligible)
    await session.execute(engage.on_conflict_do_nothing(index_elements=["contact_id"]))
    opted_out, engaged_here = Contact.opted_out_at.is_not(None), Engagement.campaign_id == campaign_id
    held = groups.held(Contact.id) if groups is not None else None
    status, reason = _status_and_reason(opted_out, engaged_here, held)
    columns = ["campaign_id", "contact_id", "status", "error_msg", "attempts"]
    values: list[Any] = [literal(campaign_id), Contact.id, status, reason, literal(0)]
    variant = groups.variant(Contact.id) if groups is not None else None
    if variant is not None:
        columns.append("variant")
        values.append(_variant(opted_out, engaged_here, held, variant))
    rows = (
        select(*values)
        .select_from(Contact)
        .outerjoin(Engagement, Engagement.contact_id == Contact.id)
        .where(in_range)
    )
    messages = insert(session, CampaignMessage).from_select(columns, rows)
    await session.execute(messages.on_conflict_do_nothing(index_elements=["campaign_id", "contact_id"]))
    counted = await session.execute(
        select(CampaignMessage.status, CampaignMessage.error_msg, func.count())
        .where(
            CampaignMessage.campaign_id == campaign_id,
            CampaignMessage.contact_id > lo,
            CampaignMessage.contact_id <= hi,
        )
        .group_by(CampaignMessage.status, CampaignMessage.error_msg)
    )
    return [(s, r, int(n)) for s, r, n in counted]


async def _count(session: AsyncSession, *, campaign_id: int, rows: list[tuple[str, str | None, int]]) -> None:
    not_sent: Counter[str] = Counter()
    pending = holdout = 0
    for status, reason, count in rows:
        if status == MessageStatus.pending:
            pending += count
        elif status == MessageStatus.holdout:
            holdout += count
        else:
            not_sent[reason or ""] += count
    total = pending + holdout + sum(not_sent.values())
    await counters.add(session, campaign_id=campaign_id, targeted=total, pending=pending,
                       not_sent=sum(not_sent.values()), holdout=holdout)
    await counters.add_not_sent_reasons(session, campaign_id=campaign_id, reasons=not_sent)
