"""The Replies pages: every message contacts sent, for the organization and per campaign, newest
first and searchable, each with where it went: the bot delivery (status, attempts, last error), or
why no bot received it. (Not the inbox cases, which hold contacts back from campaigns.)"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from herald.kit.deps import SessionDep
from herald.replies import received
from herald.replies.schemas import ReceivedMessageOut, Routing
from herald.web.deps import UiUser, render

router = APIRouter(prefix="/ui")
PAGE_SIZE = 50

# How each routing reads on the page, and whether it needs someone's attention.
ROUTING_LABELS = {
    Routing.unknown_sender: ("Not a contact: kept, not forwarded", True),
    Routing.no_campaign: ("No running campaign: kept, not forwarded", True),
    Routing.no_bot: ("Campaign has no bot for it: kept, not forwarded", True),
    Routing.bot_pending: ("On its way to the bot", False),
    Routing.bot_delivered: ("Delivered to the bot", False),
    Routing.bot_failed: ("Bot delivery failed", True),
}


def _row(message: ReceivedMessageOut) -> dict[str, object]:
    label, attention = ROUTING_LABELS[message.routing]
    delivery = message.bot_delivery
    if message.routing is Routing.bot_pending and delivery is not None and delivery.last_error:
        label, attention = "Bot not reached yet: retrying", True
    return {"m": message, "routing_label": label, "attention": attention}


async def _page(request: Request, session: SessionDep, user: UiUser, *, campaign_id: int | None, q: str,
                contact_id: int | None, unrouted: bool, cursor: str | None) -> HTMLResponse:
    org = user.principal.org_id
    campaign_name = None
    if campaign_id is not None:
        campaign_name = await received.require_campaign(session, org_id=org, campaign_id=campaign_id)
    page = await received.list_received(session, org_id=org, campaign_id=campaign_id, contact_id=contact_id,
                                        q=q or None, unrouted=unrouted, limit=PAGE_SIZE, cursor=cursor)
    base = f"/ui/campaigns/{campaign_id}/replies" if campaign_id is not None else "/ui/replies"
    return render(request, "replies/list.html", {
        "rows": [_row(m) for m in page.items], "next_cursor": page.next_cursor, "first_page": not cursor,
        "q": q, "contact_id": contact_id, "unrouted": unrouted, "base": base,
        "campaign_id": campaign_id, "campaign_name": campaign_name,
    }, user=user)


@router.get("/replies", response_class=HTMLResponse)
async def replies_page(
    request: Request, session: SessionDep, user: UiUser, q: Annotated[str, Query(max_length=200)] = "",
    contact_id: int | None = None, unrouted: bool = False, cursor: str | None = None,
) -> HTMLResponse:
    return await _page(request, session, user, campaign_id=None, q=q, contact_id=contact_id, unrouted=unrouted,
                       cursor=cursor)


@router.get("/campaigns/{campaign_id}/replies", response_class=HTMLResponse)
async def campaign_replies_page(
    request: Request, campaign_id: int, session: SessionDep, user: UiUser,
    q: Annotated[str, Query(max_length=200)] = "", contact_id: int | None = None, unrouted: bool = False,
    cursor: str | None = None,
) -> HTMLResponse:
    return await _page(request, session, user, campaign_id=campaign_id, q=q, contact_id=contact_id,
                       unrouted=unrouted, cursor=cursor)
