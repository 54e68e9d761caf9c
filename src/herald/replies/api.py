"""Endpoints bots call (funnel events, answers to users) and the bot-delivery log."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from herald.auth.deps import CurrentPrincipal, WriterPrincipal
from herald.kit.deps import ReadSessionDep, SecretBoxDep, SessionDep
from herald.kit.pagination import Page
from herald.numbers.deps import CloudClientDep
from herald.replies import deliveries, funnel, messages, received
from herald.replies.schemas import (
    BotDeliveryOut,
    DeliveryStatus,
    FunnelEventIn,
    FunnelEventOut,
    FunnelOut,
    MessageIn,
    MessageOut,
    ReceivedMessageOut,
)

router = APIRouter(tags=["replies"])


@router.post("/campaigns/{campaign_id}/funnel-events", response_model=FunnelEventOut, status_code=201)
async def record_funnel_event(
    campaign_id: int, body: FunnelEventIn, response: Response, session: SessionDep, principal: WriterPrincipal
) -> FunnelEventOut:
    """A bot flow reports a step a contact reached; a repeat answers 200 and keeps the first time."""
    event = await funnel.record_event(session, org_id=principal.org_id, campaign_id=campaign_id, data=body)
    if not event.created:
        response.status_code = 200
    return event


@router.get("/campaigns/{campaign_id}/funnel", response_model=FunnelOut)
async def get_funnel(campaign_id: int, session: ReadSessionDep, principal: CurrentPrincipal) -> FunnelOut:
    return await funnel.funnel(session, org_id=principal.org_id, campaign_id=campaign_id)


@router.post("/messages", response_model=MessageOut)
async def send_message(
    body: MessageIn, session: SessionDep, box: SecretBoxDep, client: CloudClientDep, principal: WriterPrincipal
) -> MessageOut:
    """A bot answers a user inside the 24-hour customer-service window."""
    answer = await messages.prepare_answer(session, box, org_id=principal.org_id, data=body)
    # End the transaction before the call: on SQLite it holds the write lock, WhatsApp may take seconds.
    await session.commit()
    return await messages.send_answer(client, answer)


@router.get("/bot-deliveries", response_model=Page[BotDeliveryOut])
async def list_bot_deliveries(
    session: ReadSessionDep,
    principal: CurrentPrincipal,
    status: DeliveryStatus | None = None,
    campaign_id: Annotated[int | None, Query(description="Only this campaign's deliveries.")] = None,
    limit: int = 50,
    cursor: str | None = None,
) -> Page[BotDeliveryOut]:
    return await deliveries.list_deliveries(
        session, org_id=principal.org_id, status=status, campaign_id=campaign_id, limit=limit, cursor=cursor
    )


_Q = Query(description="Part of the text, of the contact's name, or of the sender's phone.", max_length=200)
_UNROUTED = Query(description="Only the messages no bot flow has received: none was forwarded, its delivery is "
                              "still being retried, or it was given up.")


@router.get("/replies", response_model=Page[ReceivedMessageOut])
async def list_replies(
    session: ReadSessionDep,
    principal: CurrentPrincipal,
    q: Annotated[str | None, _Q] = None,
    contact_id: Annotated[int | None, Query(description="Only this contact's messages.")] = None,
    unrouted: Annotated[bool, _UNROUTED] = False,
    limit: int = 50,
    cursor: str | None = None,
) -> Page[ReceivedMessageOut]:
    """Every inbound message of the organization, newest first, with where it went (``routing``)."""
    return await received.list_received(
        session, org_id=principal.org_id, contact_id=contact_id, q=q, unrouted=unrouted, limit=limit, cursor=cursor
    )


@router.get("/campaigns/{campaign_id}/replies", response_model=Page[ReceivedMessageOut])
async def list_campaign_replies(
    campaign_id: int,
    session: ReadSessionDep,
    principal: CurrentPrincipal,
    q: Annotated[str | None, _Q] = None,
    contact_id: Annotated[int | None, Query(description="Only this contact's messages.")] = None,
    unrouted: Annotated[bool, _UNROUTED] = False,
    limit: int = 50,
    cursor: str | None = None,
) -> Page[ReceivedMessageOut]:
    """The inbound messages attributed to this campaign, newest first."""
    await received.require_campaign(session, org_id=principal.org_id, campaign_id=campaign_id)
    return await received.list_received(
        session, org_id=principal.org_id, campaign_id=campaign_id, contact_id=contact_id, q=q, unrouted=unrouted,
        limit=limit, cursor=cursor,
    )
