"""Meta's messaging limit: how many unique users a business portfolio may message in a moving 24 hours.

Meta sets the limit per business portfolio, shared by all its numbers (since October 2025; see
docs/whatsapp.md, "Messaging limit"), and reports it on each number as a tier (``TIER_250`` …
``TIER_UNLIMITED``). Herald knows a number's WABA, and its business portfolio only when the user
gives it (``business_portfolio_id``): numbers with the same portfolio id share one count, and a number
without one counts with the other numbers of its WABA. The portfolio's limit is the highest tier of
its numbers (Meta's own rule when it moved the limits to portfolios); a portfolio none of whose
numbers has a known tier is not limited by Herald (Meta still is).

What counts: the contacts Herald claimed a campaign message for, each once, for 24 hours after the
last one (``portfolio_reaches``). A claimed message reserves its contact's place before it is sent,
so two batches in flight never overshoot; a send that then fails keeps the place (Herald may use a
little less than the limit, never more). Messages a user answers inside a customer-service window
are not campaign messages and are not counted; nor does Herald know of messages other software
sends from the same portfolio.

``plan`` is the decision (a pure function); ``count`` and ``portfolios_of_numbers`` are its SQL.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from herald.models import PortfolioReach, WhatsAppNumber

WINDOW = timedelta(hours=24)
# ``whatsapp_business_manager_messaging_limit`` (number info) and the ``phone_number_quality_update``
# webhook's ``max_daily_conversations_per_business``: unique users per moving 24 hours; None: no limit.
TIER_LIMITS: dict[str, int | None] = {
    "TIER_50": 50, "TIER_250": 250, "TIER_1K": 1_000, "TIER_2K": 2_000, "TIER_10K": 10_000,
    "TIER_100K": 100_000, "TIER_UNLIMITED": None,
}


def _limit(tier: str | None) -> tuple[bool, int | None]:
    """(known, limit) of one tier: a ``TIER_…`` name, or a plain number of users as some payloads give it."""
    if not tier:
        return False, None
    name = tier.strip().upper()
    if name in TIER_LIMITS:
        return True, TIER_LIMITS[name]
    if name.isdecimal():
        return True, int(name)
    return False, None


def limit_of(tiers: Iterable[str | None]) -> int | None:
    """The portfolio's limit from its numbers' tiers: the highest known; None if unlimited or unknown."""
    limits = [limit for known, limit in map(_limit, tiers) if known]
    if not limits or any(limit is None for limit in limits):
        return None
    return max(limit for limit in limits if limit is not None)


def tier_of(tiers: Iterable[str | None]) -> str | None:
    """The tier that sets the portfolio's limit (``limit_of``), as the number gave it."""
    known = [(limit if limit is not None else float("inf"), tier.strip().upper())
             for tier in tiers if tier for known, limit in [_limit(tier)] if known]
    return max(known)[1] if known else None


def portfolio_key(org_id: int, business_portfolio_id: str | None, waba_id: str) -> str:
    if business_portfolio_id:
        return f"{org_id}:{business_portfolio_id}"
    return f"{org_id}:waba:{waba_id}"


def waiting_reason(limit: int) -> str:
    """The reason a held message shows (the report adds its next send time)."""
    return f"messaging limit {limit:,}/24 h reached"


@dataclass(frozen=True)
class Portfolio:
    key: str
    limit: int | None
    tier: str | None = None


@dataclass(frozen=True)
class Usage:
    """A portfolio's last 24 hours: how many unique contacts, the oldest reach, and which of the
    contacts asked about are among them."""

    reached: int
    oldest: datetime | None
    among: frozenset[int] = field(default_factory=frozenset)


@dataclass(frozen=True)
class Plan:
    """Which contacts may be messaged now (in the order given) and which wait, until when."""

    allowed: list[int]
    held: list[int]
    until: datetime | None


def plan(contact_ids: Sequence[int], *, limit: int | None, usage: Usage, now: datetime) -> Plan:
    """Contacts already reached in the window are free; new ones take the places left, in order; the
    rest wait until the oldest reach leaves the window (then the next places are decided again)."""
    if limit is None:
        return Plan(list(contact_ids), [], None)
    free = limit - usage.reached
    allowed: list[int] = []
    held: list[int] = []
    for contact_id in contact_ids:
        if contact_id in usage.among:
            allowed.append(contact_id)
        elif free > 0:
            allowed.append(contact_id)
            free -= 1
        else:
            held.append(contact_id)
    until = None
    if held:
        until = usage.oldest + WINDOW if usage.oldest is not None else now + WINDOW
        until = max(until, now)
    return Plan(allowed, held, until)


async def portfolios_of_numbers(session: AsyncSession, number_ids: Collection[int]) -> dict[int, Portfolio]:
    """The portfolio of each of these numbers and its limit (one query)."""
    if not number_ids:
        return {}
    found = await _portfolios(session, select(WhatsAppNumber.id).where(WhatsAppNumber.id.in_(list(number_ids))))
    return {number_id: found[number_id] for number_id in number_ids if number_id in found}


async def portfolio_of_number(session: AsyncSession, *, org_id: int, number_id: int) -> Portfolio | None:
    """The portfolio of an organization's number; None when the org has no such number."""
    own = select(WhatsAppNumber.id).where(WhatsAppNumber.id == number_id, WhatsAppNumber.org_id == org_id)
    return (await _portfolios(session, own)).get(number_id)


async def _portfolios(session: AsyncSession, numbers: Select[Any]) -> dict[int, Portfolio]:
    """The portfolio of every number of the organizations of the numbers ``numbers`` selects (their
    ids), in one query: a portfolio's limit is set by all of its numbers' tiers."""
    orgs = select(WhatsAppNumber.org_id).where(WhatsAppNumber.id.in_(numbers.scalar_subquery()))
    rows = (await session.execute(
        select(WhatsAppNumber.id, WhatsAppNumber.org_id, WhatsAppNumber.waba_id, WhatsAppNumber.business_portfolio_id,
               WhatsAppNumber.messaging_limit_tier)
        .where(WhatsAppNumber.org_id.in_(orgs))
    )).all()
    keys = {r[0]: portfolio_key(r[1], r[3], r[2]) for r in rows}
    tiers: dict[str, list[str | None]] = {}
    for r in rows:
        tiers.setdefault(keys[r[0]], []).append(r[4])
    return {number_id: Portfolio(key, limit_of(tiers[key]), tier_of(tiers[key])) for number_id, key in keys.items()}


async def count(session: AsyncSession, *, portfolio: str, now: datetime, among: Sequence[int] = ()) -> Usage:
    """The portfolio's unique contacts of the last 24 hours (on its index), and which of ``among`` they include."""
    since = now - WINDOW
    reached, oldest = (await session.execute(
        select(func.count(), func.min(PortfolioReach.reached_at))
        .where(PortfolioReach.portfolio == portfolio, PortfolioReach.reached_at > since)
    )).one()
    found: frozenset[int] = frozenset()
    if among:
        found = frozenset((await session.execute(
            select(PortfolioReach.contact_id).where(
                PortfolioReach.portfolio == portfolio, PortfolioReach.reached_at > since,
                PortfolioReach.contact_id.in_(list(among)),
            )
        )).scalars())
    return Usage(int(reached or 0), oldest, found)
