"""The messages contacts sent, as the Replies pages and ``GET /replies`` list them: newest first,
searchable, each with where it went (``Routing``): a bot flow's delivery and its state, or why no
bot received it (docs/architecture.md, "Bot flows and replies")."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from herald.contacts.rules import MAX_SEARCH_LENGTH, nul_problem
from herald.kit.errors import Invalid, NotFound
from herald.kit.pagination import Page, clamp_limit, decode_cursor, encode_cursor
from herald.replies import repository
from herald.replies.repository import ReceivedFilter, ReceivedRow
from herald.replies.schemas import (
    DeliveryStatus,
    ReceivedCampaign,
    ReceivedContact,
    ReceivedDelivery,
    ReceivedMessageOut,
    Routing,
)

_BY_DELIVERY = {"pending": Routing.bot_pending, "delivered": Routing.bot_delivered, "failed": Routing.bot_failed}


async def require_campaign(session: AsyncSession, *, org_id: int, campaign_id: int) -> str | None:
    """The campaign's name; 404 when the organization has no such campaign."""
    campaign = await repository.campaign(session, org_id=org_id, campaign_id=campaign_id)
    if campaign is None:
        raise NotFound("campaign not found")
    return campaign.name


def routing_of(row: ReceivedRow) -> Routing:
    if row.delivery is not None:
        return _BY_DELIVERY[row.delivery.status]
    if row.message.contact_id is None:
        return Routing.unknown_sender
    if row.message.campaign_id is None:
        return Routing.no_campaign
    return Routing.no_bot


def _out(row: ReceivedRow) -> ReceivedMessageOut:
    m, d = row.message, row.delivery
    return ReceivedMessageOut(
        id=m.id, wamid=m.wamid, type=m.type, text=m.text, sent_at=m.sent_at, received_at=m.received_at,
        from_wa_id=m.from_wa_id,
        contact=ReceivedContact(id=m.contact_id, name=row.contact_name, phone=row.contact_phone)
        if m.contact_id is not None else None,
        campaign=ReceivedCampaign(id=m.campaign_id, name=row.campaign_name) if m.campaign_id is not None else None,
        routing=routing_of(row),
        bot_delivery=ReceivedDelivery(
            id=d.id, status=DeliveryStatus(d.status), attempts=d.attempts, last_error=d.last_error,
            next_attempt_at=d.next_attempt_at if d.status == "pending" else None, delivered_at=d.delivered_at,
        ) if d is not None else None,
    )


async def list_received(
    session: AsyncSession, *, org_id: int, campaign_id: int | None = None, contact_id: int | None = None,
    q: str | None = None, unrouted: bool = False, limit: int = 50, cursor: str | None = None,
) -> Page[ReceivedMessageOut]:
    """Newest first; ``cursor`` continues after the last message of the previous page."""
    q = (q or "").strip() or None
    if q is not None and (problem := nul_problem("q", q) or (
            f"q is longer than {MAX_SEARCH_LENGTH} characters" if len(q) > MAX_SEARCH_LENGTH else None)):
        raise Invalid(problem, field="q")
    limit = clamp_limit(limit)
    where = ReceivedFilter(campaign_id=campaign_id, contact_id=contact_id, q=q, unrouted=unrouted)
    rows = await repository.received_messages(
        session, org_id=org_id, where=where, before_id=decode_cursor(cursor) or None, limit=limit + 1
    )
    next_cursor = encode_cursor(rows[limit - 1].message.id) if len(rows) > limit else None
    return Page(items=[_out(row) for row in rows[:limit]], next_cursor=next_cursor)
