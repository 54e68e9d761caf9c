"""Frequency caps across campaigns (docs/design.md, "Frequency caps").

An organization may allow at most ``messages`` marketing messages per contact in any ``days`` days.
What counts: messages WhatsApp accepted (they have a ``sent_at``: sent, delivered, read, or failed
after it accepted them) of real, non-exempt campaigns whose template is of category MARKETING.
What is capped: the same campaigns. Test campaigns and exempt campaigns are neither capped nor
counted. The engine checks the cap as it claims a batch (``dispatch/batch.py``), with one query for
the batch's contacts; the audience preview counts the contacts over it (``preview.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, false, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from herald.campaigns import reasons
from herald.kit.errors import Invalid
from herald.models import Campaign, CampaignMessage, Organization, Template, WhatsAppNumber

MARKETING = "MARKETING"
MAX_MESSAGES = 100
MAX_DAYS = 90


@dataclass(frozen=True)
class FrequencyCap:
    messages: int
    days: int

    @property
    def reason(self) -> str:
        return reasons.frequency_cap_reached(self.messages, self.days)

    def since(self, now: datetime) -> datetime:
        return now - timedelta(days=self.days)


def _cap(messages: int | None, days: int | None) -> FrequencyCap | None:
    return FrequencyCap(messages, days) if messages is not None and days is not None else None


async def caps_of(session: AsyncSession, org_ids: set[int]) -> dict[int, FrequencyCap]:
    """The organizations' caps, those without one left out."""
    if not org_ids:
        return {}
    rows = await session.execute(
        select(Organization.id, Organization.frequency_cap_messages, Organization.frequency_cap_days)
        .where(Organization.id.in_(org_ids))
    )
    found = {org_id: _cap(messages, days) for org_id, messages, days in rows}
    return {org_id: cap for org_id, cap in found.items() if cap is not None}


async def cap_of(session: AsyncSession, *, org_id: int) -> FrequencyCap | None:
    return (await caps_of(session, {org_id})).get(org_id)


async def save(session: AsyncSession, *, org_id: int, messages: int | None, days: int | None) -> FrequencyCap | None:
    """Sets the cap (both values) or removes it (both None); a 422 naming the field otherwise."""
    if (messages is None) != (days is None):
        field = "frequency_cap_days" if days is None else "frequency_cap_messages"
        raise Invalid("give both the number of messages and the number of days, or neither (no cap)", field=field)
    if messages is not None and not 1 <= messages <= MAX_MESSAGES:
        raise Invalid(f"the number of messages must be between 1 and {MAX_MESSAGES}", field="frequency_cap_messages")
    if days is not None and not 1 <= days <= MAX_DAYS:
        raise Invalid(f"the number of days must be between 1 and {MAX_DAYS}", field="frequency_cap_days")
    await session.execute(update(Organization).where(Organization.id == org_id)
                          .values(frequency_cap_messages=messages, frequency_cap_days=days))
    return _cap(messages, days)


def is_capped(*, kind: str, exempt: bool, category: str | None) -> bool:
    """Whether a campaign is held to its organization's cap (the same campaigns whose sends count)."""
    return kind == "real" and not exempt and (category or "").upper() == MARKETING


async def cap_for_campaign(session: AsyncSession, campaign: Campaign) -> FrequencyCap | None:
    """The cap the campaign is held to, None when its organization has none or it is not capped."""
    if campaign.kind != "real" or campaign.frequency_cap_exempt:
        return None
    cap = await cap_of(session, org_id=campaign.org_id)
    if cap is None:
        return None
    category = (await session.execute(
        select(Template.category)
        .join(WhatsAppNumber, WhatsAppNumber.waba_id == Template.waba_id)
        .where(
            WhatsAppNumber.id == campaign.whatsapp_number_id, Template.org_id == campaign.org_id,
            Template.name == campaign.template_name, Template.language == campaign.template_language,
        )
    )).scalar_one_or_none()
    return cap if is_capped(kind=campaign.kind, exempt=campaign.frequency_cap_exempt, category=category) else None


def _counted_campaigns(org_id: int) -> Select[Any]:
    """The organization's campaigns whose accepted sends count towards the cap."""
    return (
        select(Campaign.id)
        .join(WhatsAppNumber, WhatsAppNumber.id == Campaign.whatsapp_number_id)
        .join(Template, and_(
            Template.org_id == Campaign.org_id, Template.waba_id == WhatsAppNumber.waba_id,
            Template.name == Campaign.template_name, Template.language == Campaign.template_language,
        ))
        .where(
            Campaign.org_id == org_id, Campaign.kind == "real", Campaign.frequency_cap_exempt.is_(false()),
            func.upper(Template.category) == MARKETING,
        )
    )


def _counted(org_id: int, since: datetime, campaign_id: int | None) -> list[ColumnElement[bool]]:
    conditions = [
        CampaignMessage.sent_at.is_not(None), CampaignMessage.sent_at >= since,
        CampaignMessage.campaign_id.in_(_counted_campaigns(org_id)),
    ]
    if campaign_id is not None:  # the campaign's own sends do not hold back its other messages
        conditions.append(CampaignMessage.campaign_id != campaign_id)
    return conditions


async def recent_sends(
    session: AsyncSession, *, org_id: int, contact_ids: list[int], since: datetime, campaign_id: int
) -> dict[int, int]:
    """Counted sends since ``since`` per contact (those with none left out), other campaigns' only:
    one query, grouped, on ``ix_campaign_messages_contact_sent``."""
    stmt = (
        select(CampaignMessage.contact_id, func.count())
        .where(CampaignMessage.contact_id.in_(contact_ids), *_counted(org_id, since, campaign_id))
        .group_by(CampaignMessage.contact_id)
    )
    return {int(contact_id): int(count) for contact_id, count in await session.execute(stmt)}


def over_cap(
    contact_id: ColumnElement[int] | InstrumentedAttribute[int], *, org_id: int, cap: FrequencyCap, now: datetime, campaign_id: int | None
) -> ColumnElement[bool]:
    """For the audience preview: whether the contact reached the cap (a correlated count)."""
    count = (
        select(func.count()).select_from(CampaignMessage)
        .where(CampaignMessage.contact_id == contact_id, *_counted(org_id, cap.since(now), campaign_id))
        .scalar_subquery()
    )
    return count >= cap.messages
