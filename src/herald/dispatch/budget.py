"""A campaign's budget at claim time: the messages that would take its cost past it wait, and the
campaign pauses ("budget reached") so its manager can raise the budget or end it.

Called by ``batch.claim_batch`` in the claim's transaction, after the send-time rules and the
messaging limit. Each claimed message carries its forecast price (its recipient's market, the
template's category: ``herald.pricing``); the claim fits as many, in order, as the budget has room
for after ``committed`` (the forecast cost of every message that left or may have, recorded with its
batch: ``campaigns.committed_cost``) and ``in_flight`` (claimed by this sender, not recorded yet).
No query per message: the check is arithmetic on the claim, one UPDATE when it does not all fit.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import Table, bindparam, update
from sqlalchemy.ext.asyncio import AsyncSession

from herald.campaigns.lifecycle import Status, transition
from herald.events.outbox import CampaignEvent, record_campaign_events
from herald.events.types import EventType
from herald.kit.errors import Conflict
from herald.models import CampaignMessage, MessageStatus
from herald.pricing.budget import BUDGET_REACHED, EPSILON

if TYPE_CHECKING:
    from herald.dispatch.batch import Outgoing
    from herald.dispatch.context import CampaignContext

_messages: Table = CampaignMessage.__table__  # type: ignore[assignment]


def room(ctx: CampaignContext) -> float | None:
    """What the budget has left for new claims; None without a budget."""
    if ctx.budget is None:
        return None
    return ctx.budget - ctx.committed - ctx.in_flight


async def hold_over_budget(session: AsyncSession, *, ctx: CampaignContext, outgoing: list[Outgoing]) -> list[Outgoing]:
    """The messages the budget has room for; the others back to ``pending`` (never tried) and the
    campaign paused with ``BUDGET_REACHED``."""
    left = room(ctx)
    if left is None or not outgoing:
        return outgoing
    fits = 0
    spent = 0.0
    for item in outgoing:
        if spent + item.price > left + EPSILON:
            break
        spent += item.price
        fits += 1
    if fits == len(outgoing):
        return outgoing
    over = outgoing[fits:]
    await session.execute(
        update(_messages)
        .where(_messages.c.id == bindparam("_id"), _messages.c.status == MessageStatus.claimed)
        .values(status=MessageStatus.pending, lease_until=None, attempts=_messages.c.attempts - 1)
        .execution_options(synchronize_session=False),
        [{"_id": item.message_id} for item in over],
    )
    try:
        # Not announced: the messages that fit still go (below); a pause announced to the workers would
        # stop them before they leave.
        await transition(session, campaign_id=ctx.id, to=Status.paused, from_states=frozenset({Status.active}),
                         values={"status_reason": BUDGET_REACHED}, announce=False)
    except Conflict:
        pass  # paused or ended meanwhile: it sends nothing more either way
    else:  # beside the ordinary campaign.paused (docs/events.md)
        await record_campaign_events(session, [CampaignEvent(ctx.id, EventType.campaign_budget_reached, {
            "reason": BUDGET_REACHED, "budget": ctx.budget, "committed_cost": round(ctx.committed + ctx.in_flight + spent, 6),
            "next_message_price": over[0].price,
        })])
    # No further claims; the messages that fit still go (the sender's next refresh sees the campaign
    # paused and gives back those still queued then, as for any pause).
    ctx.budget_reached = True
    return outgoing[:fits]
