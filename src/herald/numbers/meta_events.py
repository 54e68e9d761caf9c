"""Meta's number and account webhooks applied to Herald's numbers at once, each kept in the number's history.

``phone_number_quality_update`` sets the messaging limit (tier), the quality flag and the throughput
level; ``account_update`` changes nothing Herald sends with and is recorded for every number it
concerns (the one it names, else every number of the WABA), to be shown on the number's page.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from herald.events.outbox import NewEvent, record_events
from herald.events.types import EventType
from herald.models import NumberEvent, WhatsAppNumber
from herald.whatsapp import AccountUpdate
from herald.whatsapp.client import THROUGHPUT_MPS
from herald.whatsapp.events import NumberQualityUpdate

REASON_MAX = 500
_NON_DIGITS = re.compile(r"\D")
# `max_daily_conversations_per_business` as a count (older payloads) in the tier names Graph uses.
_TIER_OF_COUNT = {"50": "TIER_50", "250": "TIER_250", "1000": "TIER_1K", "2000": "TIER_2K", "10000": "TIER_10K",
                  "100000": "TIER_100K"}
# FLAGGED: the number's quality rating dropped to low (Graph's RED). UNFLAGGED: no longer low, without
# saying which rating it has now: unknown until the number's info is refreshed.
_QUALITY_OF_EVENT: dict[str, str | None] = {"FLAGGED": "RED", "UNFLAGGED": None}


def tier_of(update: NumberQualityUpdate) -> str | None:
    """The portfolio's messaging limit after the change: the newer field first (``current_limit`` goes in 2026)."""
    raw = update.max_daily_conversations_per_business or update.current_limit
    if not raw:
        return None
    return _TIER_OF_COUNT.get(raw, raw.upper())[:32]


def _digits(phone: str | None) -> str:
    return _NON_DIGITS.sub("", phone or "")


async def _numbers(session: AsyncSession, *, org_id: int, waba_id: str, phone: str | None) -> list[WhatsAppNumber]:
    """The organization's numbers an event names: the one whose display number matches, else all of the WABA."""
    query = select(WhatsAppNumber).where(WhatsAppNumber.org_id == org_id, WhatsAppNumber.waba_id == waba_id)
    numbers = list((await session.execute(query.order_by(WhatsAppNumber.id))).scalars())
    wanted = _digits(phone)
    if not wanted:
        return numbers
    return [n for n in numbers if _digits(n.display_phone_number) == wanted]


def _record(session: AsyncSession, number: WhatsAppNumber, *, field: str, event: str, reason: str | None,
            detail: dict[str, Any], at: datetime) -> None:
    session.add(NumberEvent(
        org_id=number.org_id, whatsapp_number_id=number.id, field=field, event=event[:64],
        messaging_limit_tier=number.messaging_limit_tier, quality_rating=number.quality_rating,
        reason=reason[:REASON_MAX] if reason else None, detail=detail, occurred_at=at,
    ))


async def apply_quality(session: AsyncSession, *, org_id: int, update: NumberQualityUpdate,
                        received_at: datetime) -> list[tuple[WhatsAppNumber, str | None]]:
    """Returns the numbers it names, each with its quality rating before."""
    at = update.timestamp or received_at
    numbers = await _numbers(session, org_id=org_id, waba_id=update.waba_id, phone=update.display_phone_number)
    tier = tier_of(update)
    event = update.event.upper()
    changes = []
    named = []
    for number in numbers:
        before = (number.quality_rating, number.messaging_limit_tier)
        named.append((number, before[0]))
        if tier:
            number.messaging_limit_tier = tier
        if event in _QUALITY_OF_EVENT:
            number.quality_rating = _QUALITY_OF_EVENT[event]
        if event == "THROUGHPUT_UPGRADE":
            number.throughput_mps = THROUGHPUT_MPS["HIGH"]
        old = update.old_limit
        reason = f"messaging limit {old} → {tier}" if old and tier and old != tier else None
        _record(session, number, field="phone_number_quality_update", event=event, reason=reason,
                detail=update.value, at=at)
        if (number.quality_rating, number.messaging_limit_tier) != before:
            changes.append(NewEvent(org_id, EventType.number_quality_changed, {
                "number_id": number.id, "display_phone_number": number.display_phone_number, "event": event,
                "previous_quality_rating": before[0], "quality_rating": number.quality_rating,
                "previous_messaging_limit_tier": before[1], "messaging_limit_tier": number.messaging_limit_tier,
            }, at))
    await session.flush()
    await record_events(session, changes)
    return named


def account_reason(value: dict[str, Any]) -> str | None:
    """What an ``account_update`` says beyond its event, in a line: violation, restrictions, ban, disconnection."""
    parts = []
    violation = value.get("violation_info")
    if isinstance(violation, dict) and violation.get("violation_type"):
        parts.append(f"violation {violation['violation_type']}")
    restrictions = value.get("restriction_info")
    for item in restrictions if isinstance(restrictions, list) else []:
        if isinstance(item, dict) and item.get("restriction_type"):
            parts.append(f"restriction {item['restriction_type']}")
    ban = value.get("ban_info")
    if isinstance(ban, dict) and ban.get("waba_ban_state"):
        since = f" since {ban['waba_ban_date']}" if ban.get("waba_ban_date") else ""
        parts.append(f"ban state {ban['waba_ban_state']}{since}")
    disconnection = value.get("disconnection_info")
    if isinstance(disconnection, dict) and disconnection.get("reason"):
        parts.append(f"disconnected: {disconnection['reason']}")
    return "; ".join(str(p) for p in parts)[:REASON_MAX] or None


async def apply_account(session: AsyncSession, *, org_id: int, update: AccountUpdate, received_at: datetime) -> int:
    at = update.timestamp or received_at
    numbers = await _numbers(session, org_id=org_id, waba_id=update.waba_id, phone=update.phone_number)
    for number in numbers:
        _record(session, number, field="account_update", event=update.event.upper(),
                reason=account_reason(update.value), detail=update.value, at=at)
    await session.flush()
    return len(numbers)


async def history(session: AsyncSession, *, org_id: int, number_id: int, limit: int = 200) -> list[NumberEvent]:
    """Newest first."""
    query = (
        select(NumberEvent)
        .where(NumberEvent.org_id == org_id, NumberEvent.whatsapp_number_id == number_id)
        .order_by(NumberEvent.id.desc())
        .limit(limit)
    )
    return list((await session.execute(query)).scalars())
