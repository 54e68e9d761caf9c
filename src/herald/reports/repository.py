"""Every query of the reports domain (per-dialect percentiles live in ``latency.py``)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnElement, Row, String, Table, func, literal_column, select
from sqlalchemy.ext.asyncio import AsyncSession

from herald.campaigns.counters import FIELDS
from herald.kit.dialect import is_postgres
from herald.models import (
    Campaign,
    CampaignMessage,
    CampaignNotSentReason,
    CampaignSendMinute,
    CampaignStats,
    Contact,
    FunnelEvent,
)

_messages: Table = CampaignMessage.__table__  # type: ignore[assignment]
_contacts: Table = Contact.__table__  # type: ignore[assignment]
_funnel: Table = FunnelEvent.__table__  # type: ignore[assignment]

# contact_id, phone, name, status, error_msg, sent_at, delivered_at, read_at, replied_at (ISO text), wamid
ReportRow = Row[int, str, str | None, str, str | None, str | None, str | None, str | None, str | None, str | None]

EXPORT_TIMES = ("sent_at", "delivered_at", "read_at", "replied_at")


async def counters(session: AsyncSession, *, campaign_id: int, org_id: int | None) -> dict[str, int] | None:
    """The campaign's counter row (zeros before launch); None when no such campaign (in that org).

    One primary-key read joined to the campaign, so the org check costs no second query.
    """
    stmt = (
        select(Campaign.id, *(getattr(CampaignStats, name) for name in FIELDS))
        .select_from(Campaign)
        .outerjoin(CampaignStats, CampaignStats.campaign_id == Campaign.id)
        .where(Campaign.id == campaign_id)
    )
    if org_id is not None:
        stmt = stmt.where(Campaign.org_id == org_id)
    row = (await session.execute(stmt)).first()
    if row is None:
        return None
    return {name: int(value or 0) for name, value in zip(FIELDS, row[1:], strict=True)}


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


def _iso_utc(session: AsyncSession, column: ColumnElement[object]) -> ColumnElement[str]:
    """The time as ``2026-11-27T10:00:00Z``, formatted by the database: a million rows of Python
    datetime parsing and formatting would cost more than the rest of the export."""
    if is_postgres(session):
        utc = column.op("AT TIME ZONE")(literal_column("'UTC'"))
        return func.to_char(utc, 'YYYY-MM-DD"T"HH24:MI:SS"Z"', type_=String)
    # SQLite stores UTC as 'YYYY-MM-DD HH:MM:SS.ffffff' text.
    return func.strftime("%Y-%m-%dT%H:%M:%SZ", column, type_=String)


async def export_page(
    session: AsyncSession, *, campaign_id: int, after_contact_id: int, limit: int
) -> list[ReportRow]:
    """The next ``limit`` report rows after a contact id: Core rows, keyset on the
    (campaign_id, contact_id) unique index, so each page costs the same however deep.

    The page of messages is cut first; each row then looks its contact up by primary key. A join
    let PostgreSQL pick a hash join over every contact of the org for each page (quadratic at
    a million rows); a correlated lookup costs the page's size on both dialects.
    """
    m, c = _messages.c, _contacts.c
    page = (
        select(m.contact_id, m.status, m.error_msg, *(m[name] for name in EXPORT_TIMES), m.wamid)
        .where(m.campaign_id == campaign_id, m.contact_id > after_contact_id)
        .order_by(m.campaign_id, m.contact_id)
        .limit(limit)
        .subquery("page")
    )
    p = page.c

    def contact(column: ColumnElement[str | None]) -> ColumnElement[str | None]:
        return select(column).where(c.id == p.contact_id).scalar_subquery()

    stmt = select(
        p.contact_id, contact(c.phone), contact(c.name), p.status, p.error_msg,
        *(_iso_utc(session, p[name]).label(name) for name in EXPORT_TIMES), p.wamid,
    ).order_by(p.contact_id)
    connection = await session.connection()
    return list((await connection.execute(stmt)).all())


async def funnel_steps_between(
    session: AsyncSession, *, campaign_id: int, first_contact_id: int, last_contact_id: int
) -> list[Row[int, str, datetime]]:
    """(contact id, step, time) for a page of the export, first step first.

    A range on the (campaign_id, contact_id, step) primary key: one cheap read per page, where
    ``replies.funnel.funnel_steps_for`` would send the page's 2,000 ids as IN lists.
    """
    f = _funnel.c
    stmt = (
        select(f.contact_id, f.step, f.at)
        .where(f.campaign_id == campaign_id, f.contact_id.between(first_contact_id, last_contact_id))
        .order_by(f.contact_id, f.at, f.step)
    )
    connection = await session.connection()
    return list((await connection.execute(stmt)).all())
