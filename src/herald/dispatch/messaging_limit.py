"""The portfolio's messaging limit at claim time: messages past it wait instead of being sent.

Called by ``batch.claim_batch`` in the claim's transaction, on the messages the send-time rules let
through. For a portfolio Herald knows a limit of (``numbers/messaging_limit.py``), it counts the
portfolio's unique contacts of the last 24 hours, lets through the contacts already among them and
as many new ones as places are left (recording each as reached now), and puts the others back to
``pending`` until the oldest reach leaves the window, with the reason shown in the report and the
stats (``messaging limit 250/24 h reached``; their next send time is ``next_attempt_at``). The
attempt a held message's claim counted is given back: it was never tried.

Concurrent claims for numbers of one portfolio take turns: on PostgreSQL through a transaction-level
advisory lock on the portfolio, on SQLite because a claim holds the database's write lock anyway.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import Table, bindparam, delete, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from herald.kit.dialect import insert, is_postgres
from herald.kit.types import UTCDateTime, utcnow
from herald.models import CampaignMessage, MessageStatus, PortfolioReach
from herald.numbers import messaging_limit as limits

if TYPE_CHECKING:
    from herald.dispatch.batch import Outgoing

_messages: Table = CampaignMessage.__table__  # type: ignore[assignment]


async def hold_over_limit(
    session: AsyncSession, *, portfolio: limits.Portfolio | None, outgoing: list[Outgoing]
) -> list[Outgoing]:
    """The messages that may go now; the others are back to ``pending`` until a place frees.
    ``portfolio`` is the campaign's number's, as its sender last read it (``roster.py``)."""
    if not outgoing:
        return outgoing
    if portfolio is None or portfolio.limit is None:
        return outgoing
    if is_postgres(session):
        await session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:portfolio))"), {"portfolio": portfolio.key})
    now = utcnow()
    await session.execute(
        delete(PortfolioReach)
        .where(PortfolioReach.portfolio == portfolio.key, PortfolioReach.reached_at <= now - limits.WINDOW)
        .execution_options(synchronize_session=False)
    )
    contact_ids = [item.contact_id for item in outgoing]
    usage = await limits.count(session, portfolio=portfolio.key, now=now, among=contact_ids)
    decided = limits.plan(contact_ids, limit=portfolio.limit, usage=usage, now=now)
    await _reach(session, portfolio.key, decided.allowed, now)
    if decided.held and decided.until is not None:
        held = set(decided.held)
        await _hold(session, [item.message_id for item in outgoing if item.contact_id in held], decided.until,
                    limits.waiting_reason(portfolio.limit))
    allowed = set(decided.allowed)
    return [item for item in outgoing if item.contact_id in allowed]


async def _reach(session: AsyncSession, portfolio: str, contact_ids: list[int], now: datetime) -> None:
    if not contact_ids:
        return
    stmt = insert(session, PortfolioReach).values(
        [{"portfolio": portfolio, "contact_id": contact_id, "reached_at": now} for contact_id in contact_ids]
    )
    await session.execute(stmt.on_conflict_do_update(
        index_elements=["portfolio", "contact_id"], set_={"reached_at": stmt.excluded.reached_at}
    ))


async def _hold(session: AsyncSession, message_ids: list[int], until: datetime, reason: str) -> None:
    await session.execute(
        update(_messages)
        .where(_messages.c.id == bindparam("_id"), _messages.c.status == MessageStatus.claimed)
        .values(status=MessageStatus.pending, lease_until=None, attempts=_messages.c.attempts - 1,
                next_attempt_at=bindparam("_until", type_=UTCDateTime()), wait_reason=reason)
        .execution_options(synchronize_session=False),
        [{"_id": message_id, "_until": until} for message_id in message_ids],
    )

