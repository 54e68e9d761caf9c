"""A batch: the messages one claim takes for one campaign, sent one by one, recorded together.

``claim_batch`` runs on the database loop (``database_loop.py``): it claims due messages
(``claim.py``), applies the send-time rules (an open inbox case, the organization's frequency cap,
a valued tag the template needs and the contact lacks: ``not_sent`` at once), and renders each
remaining message's request body.
Messages past the portfolio's messaging limit go back to ``pending`` until a place frees
(``messaging_limit.py``); those past the campaign's budget go back too, and the campaign pauses
(``budget.py``). Each message carries its forecast price for that. Before any of it, the quality
circuit breaker looks at the campaign's recent sends and pauses it instead when they trip a rule
(``breaker.py``).
"""

from __future__ import annotations

import time
from datetime import timedelta
from typing import NamedTuple

import orjson
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from herald.campaigns import frequency_cap, reasons
from herald.contacts.local_zone import TIMEZONE_TAG
from herald.dispatch import send_window
from herald.dispatch.breaker import check_before_claim, move_window
from herald.dispatch.budget import hold_over_budget
from herald.dispatch.claim import candidates as claim_candidates
from herald.dispatch.claim import claim_messages
from herald.dispatch.context import CampaignContext, VariantRender
from herald.dispatch.messaging_limit import hold_over_limit
from herald.dispatch.outcomes import NotSent, Outcome, record_not_sent
from herald.dispatch.render import MissingValue, render_parameters
from herald.dispatch.repository import PartToRecord, load_recipients, message_variants
from herald.dispatch.takeoff import Clearance
from herald.kit.db import Database
from herald.kit.types import utcnow
from herald.models import SendClaim
from herald.whatsapp import template_message, with_marketing_options

# Per claim, hence per recording transaction: amortises their fixed cost.
MAX_BATCH = 500


class BatchPart(NamedTuple):
    """Outcomes of a batch handed to one recording (``recorded``: the last part's deletes the claim),
    with what its sender settles once it is written."""

    ctx: CampaignContext
    price: float  # forecast price no longer in flight once recorded (the whole batch's, with the last part)
    recorded: PartToRecord  # its ``cost`` (messages that left or may have) is committed when recorded


class Batch:
    """One claim's messages: recorded in parts as they get outcomes (``take_part``), the last part once
    the last of them has one."""

    __slots__ = ("ctx", "claim_id", "clearance", "outcomes", "remaining", "pause_reason", "price", "cost",
                 "recorded", "recorded_cost", "recorded_at")

    def __init__(self, ctx: CampaignContext, size: int, claim_id: int | None = None,
                 clearance: Clearance | None = None) -> None:
        self.ctx = ctx
        self.claim_id = claim_id  # its ``SendClaim``, deleted with the recording of its last outcomes
        self.clearance = clearance  # how far its watermark covers its messages (``takeoff.py``)
        self.outcomes: list[Outcome] = []
        self.remaining = size
        self.pause_reason: str | None = None
        self.price = 0.0  # the forecast price of its messages, in flight until it is recorded
        self.cost = 0.0  # that of those that left or may have (sent, unknown): committed when recorded
        self.recorded = 0  # how many of ``outcomes`` earlier parts took
        self.recorded_cost = 0.0
        self.recorded_at = time.monotonic()

    def take_part(self, *, final: bool) -> BatchPart:
        """The outcomes no part took yet (and the pause reason, once), for one recording."""
        outcomes = self.outcomes[self.recorded:]
        cost = self.cost - self.recorded_cost
        reason, self.pause_reason = self.pause_reason, None
        self.recorded, self.recorded_cost, self.recorded_at = len(self.outcomes), self.cost, time.monotonic()
        return BatchPart(self.ctx, self.price if final else 0.0,
                         PartToRecord(self.ctx.id, outcomes, reason, self.claim_id if final else None, cost))


class Outgoing:
    """A claimed message (``claimed``, leased), its request body rendered, waiting for a send loop.

    The body is kept as the JSON bytes it is sent as: rendered while claiming, off the send loops, and
    one object for the garbage collector instead of seven nested containers. A number's claims hold
    three seconds of its pace, so a worker at 1,600 msg/s holds about 5,000 of these at any time,
    long enough for every one to reach the oldest generation that each full collection walks.
    """

    __slots__ = ("message_id", "contact_id", "attempts", "body", "batch", "index", "price", "marketing_messages")

    def __init__(self, message_id: int, contact_id: int, attempts: int, body: bytes, price: float = 0.0,
                 marketing_messages: bool = False) -> None:
        self.message_id = message_id
        self.contact_id = contact_id
        self.attempts = attempts
        self.body = body
        self.price = price  # forecast: its recipient's market at the template category's rate
        self.batch: Batch | None = None
        self.index = 0  # its place in its batch's leaving order (``Clearance``)
        self.marketing_messages = marketing_messages  # to ``/marketing_messages`` (dispatch/marketing_messages.py)


async def claim_batch(
    database: Database, ctx: CampaignContext, size: int, lease: timedelta
) -> tuple[int | None, list[Outgoing], bool]:
    """Returns the claim's id, the messages to send (in id order: the order they must leave in, see
    ``takeoff.py``), and whether anything was claimed at all (some may be skipped)."""
    # Sends wait on it: on SQLite it goes before the recordings waiting for the write lock (``urgent``),
    # which with many numbers sending are many, so that a number does not run dry behind them.
    async with database.transaction(urgent=True) as session:
        tripped, window = await check_before_claim(session, campaign_id=ctx.id, settings=ctx.breaker)  # breaker.py
        if tripped:
            ctx.breaker_tripped = True
            return None, [], False
        claim_id, rows = await claim_messages(session, campaign_id=ctx.id, now=utcnow(), limit=size, lease=lease)
        if not rows:
            return None, [], False
        outgoing, skipped = await _prepare(session, ctx, rows)
        outgoing = await hold_over_limit(session, portfolio=ctx.portfolio, outgoing=outgoing)  # messaging_limit.py
        outgoing = await hold_over_budget(session, ctx=ctx, outgoing=outgoing)  # budget.py
        await record_not_sent(session, campaign_id=ctx.id, items=skipped)
        await move_window(session, window)
        if not outgoing:  # every message skipped or held: nothing holds the claim
            await session.execute(delete(SendClaim).where(SendClaim.id == claim_id))
            return None, [], True
    return claim_id, outgoing, True


async def anything_due(database: Database, campaign_id: int) -> bool:
    """Whether a claim for the campaign would take a message now: one read, without the claim's writes
    (on SQLite, without the write lock)."""
    async with database.read_session() as session:
        found = await session.execute(claim_candidates(campaign_id, utcnow(), 1))
        return found.first() is not None


async def _prepare(
    session: AsyncSession, ctx: CampaignContext, rows: list[tuple[int, int, int]]
) -> tuple[list[Outgoing], list[NotSent]]:
    """Send-time rules: the send window (contacts outside theirs wait), an open inbox case, the frequency
    cap, or a valued tag the template needs and the contact lacks."""
    window = ctx.send_window
    keys = ctx.valued_tag_keys if window is None else ctx.valued_tag_keys | {TIMEZONE_TAG}
    recipients = await load_recipients(session, [r[1] for r in rows], keys)
    contacts, open_cases, valued = recipients.contacts, recipients.open_cases, recipients.valued
    now = utcnow()
    closed: list[NotSent] = []
    if window is not None:  # none of this without a window (dispatch/send_window.py)
        by_window = send_window.sort_rows(window, rows, phones=contacts, tags=valued, tag_key=TIMEZONE_TAG,
                                          now=now, started_at=ctx.started_at)
        await send_window.hold(session, by_window.waiting)
        rows, closed = by_window.open_rows, by_window.over
    cap = ctx.frequency_cap
    card = ctx.card
    recent: dict[int, int] = {}
    if cap is not None:  # one query for the whole batch; none without a cap (campaigns/frequency_cap.py)
        recent = await frequency_cap.recent_sends(
            session, org_id=ctx.org_id, contact_ids=[r[1] for r in rows], since=cap.since(now), campaign_id=ctx.id
        )
    # A/B variants: each message's, in one query per batch (none for a campaign without variants).
    drawn = await message_variants(session, [r[0] for r in rows]) if ctx.variants else {}
    outgoing: list[Outgoing] = []
    skipped: list[NotSent] = closed
    for message_id, contact_id, attempts in rows:
        phone, name = contacts[contact_id]
        if contact_id in open_cases:
            skipped.append(NotSent(message_id, contact_id, reasons.OPEN_CASE, None, now))
            continue
        if phone is None:  # the address (load_recipients): no phone and no user id Meta accepts
            skipped.append(NotSent(message_id, contact_id, reasons.NO_ADDRESS, None, now))
            continue
        if cap is not None and recent.get(contact_id, 0) >= cap.messages:
            skipped.append(NotSent(message_id, contact_id, cap.reason, None, now))
            continue
        render: CampaignContext | VariantRender = ctx
        index = drawn.get(message_id)
        if index is not None and index < len(ctx.variants):
            render = ctx.variants[index]
        try:
            params = render_parameters(render.positions, render.variables, name=name, valued_tags=valued[contact_id])
        except MissingValue as missing:
            skipped.append(NotSent(message_id, contact_id, missing.reason, None, now))
            continue
        body = template_message(
            phone, render.template_name, render.language, params, header=render.header,
            biz_opaque_callback_data=str(message_id),
        )
        if render.marketing_messages:  # the number's Marketing Messages API options (dispatch/marketing_messages.py)
            sharing = ctx.number_marketing.activity_sharing if ctx.number_marketing is not None else None
            body = with_marketing_options(body, activity_sharing=sharing)
        price = card.price_of_phone(phone, ctx.category) if card is not None else 0.0
        outgoing.append(Outgoing(message_id, contact_id, attempts, orjson.dumps(body), price,
                                 render.marketing_messages))
    return outgoing, skipped
