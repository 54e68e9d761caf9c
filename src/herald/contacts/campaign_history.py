"""A contact's campaigns: the one it is engaged in now, each campaign message it was sent (status,
times, error) with the replies attributed to that campaign, and its opt-out state."""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy.ext.asyncio import AsyncSession

from herald.contacts import repository
from herald.contacts.schemas import ContactCampaignMessage, ContactCampaignsOut, ContactReply, EngagedIn
from herald.kit.errors import NotFound

MESSAGES_SHOWN = 100
REPLIES_SHOWN = 500


async def campaigns_of(session: AsyncSession, *, org_id: int, contact_id: int) -> ContactCampaignsOut:
    contact = await repository.contact_by_id(session, org_id=org_id, contact_id=contact_id)
    if contact is None:
        raise NotFound(f"no contact {contact_id}", code="contact_not_found")
    engaged = await repository.engagement_of(session, contact_id=contact_id)
    rows = await repository.campaign_messages_of(session, org_id=org_id, contact_id=contact_id, limit=MESSAGES_SHOWN)
    inbound = await repository.inbound_of_campaigns(
        session, contact_id=contact_id, campaign_ids={m.campaign_id for m, *_ in rows}, limit=REPLIES_SHOWN
    )
    replies: dict[int, list[ContactReply]] = defaultdict(list)
    for m in inbound:
        assert m.campaign_id is not None
        replies[m.campaign_id].append(ContactReply(id=m.id, type=m.type, text=m.text, sent_at=m.sent_at))
    return ContactCampaignsOut(
        engaged_in=EngagedIn(campaign_id=engaged.campaign_id, campaign_name=engaged.campaign_name,
                             campaign_status=engaged.campaign_status, engaged_at=engaged.engaged_at)
        if engaged is not None else None,
        opted_out=contact.opted_out_at is not None, opted_out_at=contact.opted_out_at,
        opted_out_reason=contact.opted_out_reason if contact.opted_out_at is not None else None,
        messages=[
            ContactCampaignMessage(
                campaign_id=m.campaign_id, campaign_name=name, campaign_status=status, campaign_kind=kind,
                status=m.status, attempts=m.attempts, sent_at=m.sent_at, delivered_at=m.delivered_at,
                read_at=m.read_at, failed_at=m.failed_at, replied_at=m.replied_at, error_code=m.error_code,
                error=m.error_msg, replies=replies.get(m.campaign_id, []),
            )
            for m, name, status, kind in rows
        ],
    )
