"""Audience materialisation: the segment becomes campaign messages and engagements, in keyset chunks.

Each chunk is one transaction that also advances the campaign's ``materialize_cursor`` and its
counters, so a worker that dies mid-way leaves a state the next run continues from exactly.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from sqlalchemy import and_, case, func, literal, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from herald.campaigns import counters, reasons
from herald.campaigns.segments import segment_filter
from herald.dispatch.launch import MATERIALIZE_JOB
from herald.jobs.runner import handler
from herald.kit.db import Database
from herald.kit.dialect import insert
from herald.kit.types import utcnow
from herald.models import Campaign, CampaignMessage, Contact, Engagement

CHUNK = 20_000
LIVE = ("active", "paused")


@handler(MATERIALIZE_JOB)
async def materialize_job(database: Database, payload: dict[str, Any]) -> None:
    campaign_id = int(payload["campaign_id"])
    while True:
        async with database.session() as session:
            if not await materialize_chunk(session, campaign_id=campaign_id):
                return


async def materialize_chunk(session: AsyncSession, *, campaign_id: int, chunk: int = CHUNK) -> bool:
    """Materialises the next chunk; False once the whole audience is done (or the campaign ended)."""
    campaign = (
        await session.execute(select(Campaign).where(Campaign.id == campaign_id).with_for_update())
    ).scalar_one_or_none()
    if campaign is None or campaign.status not in LIVE or campaign.materialized_at is not None:
        return False
    where = await segment_filter(
        session, org_id=campaign.org_id, audience=campaign.audience, contact_ids=campaign.test_contact_ids
    )
    lo = campaign.materialize_cursor
    hi = await _chunk_end(session, org_id=campaign.org_id, after=lo, chunk=chunk)
    if hi is None:
        await session.execute(update(Campaign).where(Campaign.id == campaign_id).values(materialized_at=utcnow()))
        return False
    in_range = and_(where, Contact.id > lo, Contact.id <= hi)
    await _engage(session, campaign_id=campaign_id, in_range=in_range)
    await _insert_messages(session, campaign_id=campaign_id, in_range=in_range)
    await _count_chunk(session, campaign_id=campaign_id, lo=lo, hi=hi)
    await session.execute(update(Campaign).where(Campaign.id == campaign_id).values(materialize_cursor=hi))
    return True


async def _chunk_end(session: AsyncSession, *, org_id: int, after: int, chunk: int) -> int | None:
    """The last contact id of the next ``chunk`` contacts of the organization, on its (org_id, id)
    index: cheaper than ranking the segment itself, which the INSERT … SELECT filters anyway."""
    ids = select(Contact.id).where(Contact.org_id == org_id, Contact.id > after)
    end = (await session.execute(ids.order_by(Contact.id).offset(chunk - 1).limit(1))).scalar_one_or_none()
    if end is not None:
        return int(end)
    last = (await session.execute(select(func.max(Contact.id)).where(Contact.org_id == org_id, Contact.id > after))).scalar_one_or_none()
    return int(last) if last is not None else None


async def _engage(session: AsyncSession, *, campaign_id: int, in_range: Any) -> None:
    # The engagements primary key (contact_id) decides who is already in another active campaign.
    eligible = select(Contact.id, literal(campaign_id), literal(utcnow(), type_=Engagement.engaged_at.type)).where(
        in_range, Contact.opted_out_at.is_(None)
    )
    stmt = insert(session, Engagement).from_select(["contact_id", "campaign_id", "engaged_at"], eligible)
    await session.execute(stmt.on_conflict_do_nothing(index_elements=["contact_id"]))


async def _insert_messages(session: AsyncSession, *, campaign_id: int, in_range: Any) -> None:
    engaged_here = Engagement.campaign_id == campaign_id
    status = case(
        (Contact.opted_out_at.is_not(None), "not_sent"), (engaged_here, "pending"), else_="not_sent"
    )
    reason = case(
        (Contact.opted_out_at.is_not(None), reasons.OPTED_OUT),
        (engaged_here, None),
        else_=reasons.ALREADY_ENGAGED,
    )
    rows = (
        select(literal(campaign_id), Contact.id, status, reason, literal(0))
        .select_from(Contact)
        .outerjoin(Engagement, Engagement.contact_id == Contact.id)
        .where(in_range)
    )
    stmt = insert(session, CampaignMessage).from_select(
        ["campaign_id", "contact_id", "status", "error_msg", "attempts"], rows
    )
    await session.execute(stmt.on_conflict_do_nothing(index_elements=["campaign_id", "contact_id"]))


async def _count_chunk(session: AsyncSession, *, campaign_id: int, lo: int, hi: int) -> None:
    rows = await session.execute(
        select(CampaignMessage.status, CampaignMessage.error_msg, func.count())
        .where(
            CampaignMessage.campaign_id == campaign_id,
            CampaignMessage.contact_id > lo,
            CampaignMessage.contact_id <= hi,
        )
        .group_by(CampaignMessage.status, CampaignMessage.error_msg)
    )
    not_sent: Counter[str] = Counter()
    pending = 0
    for status, reason, count in rows.tuples():
        if status == "pending":
            pending += count
        else:
            not_sent[reason or ""] += count
    total = pending + sum(not_sent.values())
    await counters.add(session, campaign_id=campaign_id, targeted=total, pending=pending, not_sent=sum(not_sent.values()))
    await counters.add_not_sent_reasons(session, campaign_id=campaign_id, reasons=not_sent)
