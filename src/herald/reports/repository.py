"""Every query of the reports domain (per-dialect percentiles live in ``latency.py``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from herald.models import (
    Campaign,
    CampaignMessage,
    CampaignNotSentReason,
    CampaignSendMinute,
    CampaignStats,
    Contact,
    MessageStatus,
)
from herald.models.campaign_stats import QUALITY_FIELDS, STAT_FIELDS
from herald.reports.subsets import Subset


async def counters(session: AsyncSession, *, campaign_id: int, org_id: int | None) -> dict[str, int] | None:
    """The campaign's counter row (zeros before launch); None when no such campaign (in that org).

    One primary-key read joined to the campaign, so the org check costs no second query.
    """
    stmt = (
        select(Campaign.id, *(getattr(CampaignStats, name) for name in STAT_FIELDS))
        .select_from(Campaign)
        .outerjoin(CampaignStats, CampaignStats.campaign_id == Campaign.id)
        .where(Campaign.id == campaign_id)
    )
    if org_id is not None:
        stmt = stmt.where(Campaign.org_id == org_id)
    row = (await session.execute(stmt)).first()
    if row is None:
        return None
    return {name: int(value or 0) for name, value in zip(STAT_FIELDS, row[1:], strict=True)}


async def costs(session: AsyncSession, *, campaign_id: int) -> tuple[int, float, float, float | None] | None:
    """The campaign's org, actual cost so far, committed (forecast) cost and budget: one primary-key read."""
    row = (await session.execute(
        select(Campaign.org_id, CampaignStats.cost, Campaign.committed_cost, Campaign.budget)
        .select_from(Campaign)
        .outerjoin(CampaignStats, CampaignStats.campaign_id == Campaign.id)
        .where(Campaign.id == campaign_id)
    )).first()
    if row is None:
        return None
    return int(row[0]), float(row[1] or 0.0), float(row[2] or 0.0), row[3]


async def quality(session: AsyncSession, *, campaign_id: int) -> tuple[Any, list[int], Any] | None:
    """The campaign's breaker settings (JSON), quality counters and window marks: one primary-key read."""
    row = (await session.execute(
        select(Campaign.breaker, *(getattr(CampaignStats, name) for name in QUALITY_FIELDS), CampaignStats.quality_marks)
        .select_from(Campaign)
        .outerjoin(CampaignStats, CampaignStats.campaign_id == Campaign.id)
        .where(Campaign.id == campaign_id)
    )).first()
    if row is None:
        return None
    return row[0], [int(v or 0) for v in row[1:5]], row[5]


async def not_sent_reasons(session: AsyncSession, *, campaign_id: int) -> dict[str, int]:
    stmt = (
        select(CampaignNotSentReason.reason, CampaignNotSentReason.count)
        .where(CampaignNotSentReason.campaign_id == campaign_id, CampaignNotSentReason.count > 0)
        .order_by(CampaignNotSentReason.count.desc(), CampaignNotSentReason.reason)
    )
    return {reason: int(count) for reason, count in (await session.execute(stmt)).all()}


async def send_minutes(session: AsyncSession, *, campaign_id: int) -> list[tuple[int, int]]:
    """(minute since the epoch, accepted sends), oldest first."""
    stmt = (
        select(CampaignSendMinute.minute, CampaignSendMinute.count)
        .where(CampaignSendMinute.campaign_id == campaign_id, CampaignSendMinute.count > 0)
        .order_by(CampaignSendMinute.minute)
    )
    return [(int(minute), int(count)) for minute, count in (await session.execute(stmt)).all()]



async def waiting(session: AsyncSession, *, campaign_id: int, now: datetime) -> tuple[dict[str, int], datetime | None]:
    """Pending messages due later with a reason (the messaging limit, a 131049 retry): counts by reason,
    and the earliest due time. A range of the claim index (campaign, status, next_attempt_at)."""
    rows = (await session.execute(
        select(CampaignMessage.wait_reason, func.count(), func.min(CampaignMessage.next_attempt_at))
        .where(CampaignMessage.campaign_id == campaign_id, CampaignMessage.status == MessageStatus.pending,
               CampaignMessage.next_attempt_at > now, CampaignMessage.wait_reason.is_not(None))
        .group_by(CampaignMessage.wait_reason)
        .order_by(func.count().desc(), CampaignMessage.wait_reason)
    )).all()
    times = [at for _, _, at in rows if at is not None]
    return {str(reason): int(n) for reason, n, _ in rows}, min(times) if times else None


class ProgressRow(Protocol):
    """A row of ``progress_rows``: the campaign's status and pace settings, its counters, its recent sends."""

    id: int
    status: str
    started_at: datetime | None
    start_at: datetime | None
    rate_per_second: float | None
    rate_per_hour: int | None
    recent_sends: int | None
    latest_due: datetime | None

    def __getattr__(self, counter: str) -> Any: ...


async def progress_rows(
    session: AsyncSession, *, org_id: int, campaign_ids: list[int], since_minute: int
) -> list[ProgressRow]:
    """Status, pace settings, counters and the sends accepted since ``since_minute`` of the org's
    campaigns among ``campaign_ids``: one statement for them all (primary-key reads, and a range of
    each campaign's send minutes)."""
    recent = (
        select(func.sum(CampaignSendMinute.count))
        .where(CampaignSendMinute.campaign_id == Campaign.id, CampaignSendMinute.minute >= since_minute)
        .scalar_subquery()
        .label("recent_sends")
    )
    # The last time a pending message is due (a send window's opening, a retry): the top of a range of
    # the claim index (campaign, status, next_attempt_at).
    latest_due = (
        select(func.max(CampaignMessage.next_attempt_at))
        .where(CampaignMessage.campaign_id == Campaign.id, CampaignMessage.status == MessageStatus.pending)
        .scalar_subquery()
        .label("latest_due")
    )
    stmt = (
        select(
            Campaign.id, Campaign.status, Campaign.started_at, Campaign.start_at, Campaign.rate_per_second,
            Campaign.rate_per_hour, *(getattr(CampaignStats, name) for name in STAT_FIELDS), recent, latest_due,
        )
        .select_from(Campaign)
        .outerjoin(CampaignStats, CampaignStats.campaign_id == Campaign.id)
        .where(Campaign.org_id == org_id, Campaign.id.in_(campaign_ids))
    )
    return list((await session.execute(stmt)).all())  # type: ignore[arg-type]


def _subset_where(campaign_id: int, subset: Subset) -> Any:
    return text("p.campaign_id = :subset_campaign" + subset.condition()).bindparams(
        subset_campaign=campaign_id, **subset.params())


async def subset_contacts(
    session: AsyncSession, *, campaign_id: int, subset: Subset, after_contact_id: int, limit: int
) -> list[Any]:
    """A page of the subset's messages joined to their contacts, in contact id order."""
    p = aliased(CampaignMessage, name="p")
    stmt = (
        select(p.contact_id, Contact.name, Contact.phone, Contact.wa_user_id, p.status, p.error_msg, p.sent_at,
               p.delivered_at, p.read_at, p.replied_at, p.variant)
        .select_from(p)
        .outerjoin(Contact, Contact.id == p.contact_id)
        .where(_subset_where(campaign_id, subset), p.contact_id > after_contact_id)
        .order_by(p.campaign_id, p.contact_id)
        .limit(limit)
    )
    return list((await session.execute(stmt)).all())


async def subset_size(session: AsyncSession, *, campaign_id: int, subset: Subset) -> int:
    p = aliased(CampaignMessage, name="p")
    stmt = select(func.count()).select_from(p).where(_subset_where(campaign_id, subset))
    return int((await session.execute(stmt)).scalar_one())
