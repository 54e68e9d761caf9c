"""An organization's rate card: Herald's shipped card, or the one an admin uploaded, with the
admin's single-rate overrides and currency on top. Admins change it (``/api/v1/rate-card``, the
settings page); everyone reads it."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from herald.kit.errors import Invalid, NotFound, TooLarge
from herald.models import Organization
from herald.pricing.card import (
    CATEGORIES,
    MAX_CARD_BYTES,
    MAX_MARKETS,
    RateCard,
    check_currency,
    default_card,
    parse_card,
    parse_price,
)


async def cards_of(session: AsyncSession, org_ids: set[int]) -> dict[int, RateCard]:
    """Each organization's card as it prices now (overrides and currency applied)."""
    if not org_ids:
        return {}
    rows = await session.execute(
        select(Organization.id, Organization.rate_card, Organization.rate_overrides, Organization.currency)
        .where(Organization.id.in_(org_ids))
    )
    return {org_id: _effective(card, overrides, currency) for org_id, card, overrides, currency in rows}


async def card_of(session: AsyncSession, *, org_id: int) -> RateCard:
    found = await cards_of(session, {org_id})
    if org_id not in found:
        raise NotFound("organization not found")
    return found[org_id]


def _effective(card: dict[str, Any] | None, overrides: dict[str, Any] | None, currency: str | None) -> RateCard:
    base = RateCard.from_json(card) if card else default_card()
    return base.with_overrides(overrides or {}, currency)


async def stored(session: AsyncSession, *, org_id: int) -> tuple[bool, dict[str, dict[str, float]], str | None]:
    """Whether the organization uploaded its own card, its overrides and its currency."""
    row = (await session.execute(
        select(Organization.rate_card, Organization.rate_overrides, Organization.currency).where(Organization.id == org_id)
    )).one()
    return row[0] is not None, row[1] or {}, row[2]


async def replace_card(session: AsyncSession, *, org_id: int, text: str) -> RateCard:
    """The organization's card becomes ``text`` (``card.parse_card``'s format); its overrides stay."""
    if len(text.encode()) > MAX_CARD_BYTES:
        raise TooLarge(f"a rate card is at most {MAX_CARD_BYTES // 1024} KiB")
    card = parse_card(text)
    await _set(session, org_id, rate_card=card.as_json())
    return await card_of(session, org_id=org_id)


async def reset_card(session: AsyncSession, *, org_id: int) -> RateCard:
    """Back to Herald's shipped card, overrides and currency removed."""
    await _set(session, org_id, rate_card=None, rate_overrides=None, currency=None)
    return await card_of(session, org_id=org_id)


async def set_overrides(
    session: AsyncSession, *, org_id: int, overrides: dict[str, dict[str, Any]], currency: str | None,
) -> RateCard:
    """Replaces the overrides (market → category → price) and the currency (None: the card's)."""
    checked: dict[str, dict[str, float]] = {}
    if len(overrides) > MAX_MARKETS:
        raise Invalid(f"at most {MAX_MARKETS} markets", field="overrides")
    for market, row in overrides.items():
        name = market.strip()
        if not name or len(name) > 100:
            raise Invalid("a market name is 1 to 100 characters", field=f"overrides.{market}")
        for category, price in row.items():
            where = f"overrides.{name}.{category}"
            if category not in CATEGORIES:
                raise Invalid(f"the categories are {', '.join(CATEGORIES)}", field=where)
            checked.setdefault(name, {})[category] = parse_price(str(price), where=where)
    code = check_currency(currency) if currency is not None else None
    await _set(session, org_id, rate_overrides=checked or None, currency=code)
    return await card_of(session, org_id=org_id)


async def _set(session: AsyncSession, org_id: int, **values: Any) -> None:
    await session.execute(
        update(Organization).where(Organization.id == org_id).values(**values).execution_options(synchronize_session=False)
    )
