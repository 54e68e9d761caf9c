"""Funnel steps reported by bot flows: one time per (campaign, contact, step), the first one reported."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from herald.contacts.rules import normalize_phone
from herald.kit.errors import Invalid, NotFound
from herald.kit.types import utcnow
from herald.replies import repository
from herald.replies.schemas import FunnelEventIn, FunnelEventOut, FunnelOut, FunnelStep


async def record_event(session: AsyncSession, *, org_id: int, campaign_id: int, data: FunnelEventIn) -> FunnelEventOut:
    """Records a step; a repeat keeps the first time. Raises NotFound (not our campaign) or Invalid."""
    await _require_campaign(session, org_id=org_id, campaign_id=campaign_id)
    step = data.step.strip()
    if not step:
        raise Invalid("step must not be blank", field="step")
    contact_id = await _targeted_contact(session, org_id=org_id, campaign_id=campaign_id, data=data)
    created = await repository.insert_funnel_event(
        session, campaign_id=campaign_id, contact_id=contact_id, step=step, at=data.at or utcnow()
    )
    at = await repository.funnel_event_at(session, campaign_id=campaign_id, contact_id=contact_id, step=step)
    return FunnelEventOut(campaign_id=campaign_id, contact_id=contact_id, step=step, at=at, created=created)


async def funnel(session: AsyncSession, *, org_id: int, campaign_id: int) -> FunnelOut:
    """Contacts per step, the most reached first."""
    await _require_campaign(session, org_id=org_id, campaign_id=campaign_id)
    rows = await repository.funnel_counts(session, campaign_id=campaign_id)
    return FunnelOut(steps=[FunnelStep(step=step, contacts=contacts) for step, contacts, _ in rows])


async def _require_campaign(session: AsyncSession, *, org_id: int, campaign_id: int) -> None:
    if await repository.campaign(session, org_id=org_id, campaign_id=campaign_id) is None:
        raise NotFound("campaign not found", code="campaign_not_found")


async def _targeted_contact(session: AsyncSession, *, org_id: int, campaign_id: int, data: FunnelEventIn) -> int:
    field = "contact_id" if data.contact_id is not None else "phone"
    phone = normalize_phone(data.phone) if data.phone is not None else None
    contact_id = await repository.targeted_contact_id(
        session, org_id=org_id, campaign_id=campaign_id, contact_id=data.contact_id, phone=phone
    )
    if contact_id is None:
        raise Invalid(f"the {field} is not a contact targeted by campaign {campaign_id}", field=field,
                      code="contact_not_targeted")
    return contact_id
