"""The few reads the pages need that no domain service offers yet (segment overlaps, samples).

Each builds on ``campaigns.segments`` so a segment means exactly what it means to the engine.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from herald.campaigns import segments
from herald.models import Campaign, Contact, ContactValuedTag, Engagement, User, WhatsAppNumber


async def engaging_campaigns(
    session: AsyncSession, *, org_id: int, audience: dict[str, Any] | None, campaign_id: int | None,
    snapshot_of: int | None = None,
) -> list[tuple[int, str, str, int]]:
    """Other campaigns that engage part of the segment (or a follow-up's snapshot, ``snapshot_of``)
    now: (id, name, status, contacts), biggest first."""
    where = await segments.segment_filter(session, org_id=org_id, audience=audience, snapshot_of=snapshot_of)
    stmt = (
        select(Campaign.id, Campaign.name, Campaign.status, func.count())
        .select_from(Engagement)
        .join(Contact, Contact.id == Engagement.contact_id)
        .join(Campaign, Campaign.id == Engagement.campaign_id)
        .where(where)
        .group_by(Campaign.id, Campaign.name, Campaign.status)
        .order_by(func.count().desc())
        .limit(20)
    )
    if campaign_id is not None:
        stmt = stmt.where(Engagement.campaign_id != campaign_id)
    return [(int(i), str(n), str(s), int(c)) for i, n, s, c in (await session.execute(stmt))]


async def contacts_lacking_valued_tag(
    session: AsyncSession, *, org_id: int, audience: dict[str, Any] | None, key: str, limit: int = 20
) -> list[tuple[str, str | None]]:
    """(phone, name) of the segment's contacts without a non-empty value for ``key``, the first ``limit``;
    a username contact shows its WhatsApp user id in place of the phone."""
    where = await segments.segment_filter(session, org_id=org_id, audience=audience)
    has_value = (
        select(ContactValuedTag.contact_id)
        .where(ContactValuedTag.contact_id == Contact.id, ContactValuedTag.key == key, ContactValuedTag.value != "")
        .exists()
    )
    shown = func.coalesce(Contact.phone, Contact.wa_user_id)
    stmt = select(shown, Contact.name).where(where, ~has_value).order_by(Contact.id).limit(limit)
    return [(str(p), n) for p, n in (await session.execute(stmt))]


async def sample_contact(
    session: AsyncSession, *, org_id: int, audience: dict[str, Any] | None, snapshot_of: int | None = None
) -> tuple[str | None, dict[str, str]] | None:
    """The segment's (or follow-up's) first contact (name, valued tags), to preview a message as it will read."""
    where = await segments.segment_filter(session, org_id=org_id, audience=audience, snapshot_of=snapshot_of)
    row = (await session.execute(select(Contact.id, Contact.name).where(where).order_by(Contact.id).limit(1))).first()
    if row is None:
        return None
    values = await session.execute(
        select(ContactValuedTag.key, ContactValuedTag.value).where(ContactValuedTag.contact_id == row[0])
    )
    return row[1], {str(k): str(v) for k, v in values}


async def number_labels(session: AsyncSession, *, org_id: int) -> dict[int, str]:
    stmt = select(WhatsAppNumber.id, WhatsAppNumber.display_phone_number).where(WhatsAppNumber.org_id == org_id)
    return {int(i): str(label) for i, label in (await session.execute(stmt))}


async def campaign_status(session: AsyncSession, *, org_id: int, campaign_id: int) -> tuple[str, str | None] | None:
    """(status, status_reason): one primary-key read per second per live stats page."""
    stmt = select(Campaign.status, Campaign.status_reason).where(Campaign.id == campaign_id, Campaign.org_id == org_id)
    row = (await session.execute(stmt)).first()
    return None if row is None else (str(row[0]), row[1])


async def user_emails(session: AsyncSession, *, org_id: int, user_ids: set[int]) -> dict[int, str]:
    """The emails of the organization's users among ``user_ids`` (for who-did-what lines)."""
    if not user_ids:
        return {}
    rows = await session.execute(select(User.id, User.email).where(User.org_id == org_id, User.id.in_(user_ids)))
    return {user_id: email for user_id, email in rows}
