"""Applying delivery statuses to campaign messages (ARCHITECTURE section 4, "Webhooks in")."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import timedelta
from typing import Any

from sqlalchemy import Row, Table, bindparam, delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from herald.campaigns import counters, marketing_retry
from herald.campaigns.lifecycle import RUNNING
from herald.campaigns.message_state import MessageState, apply_status, bucket, counter_deltas
from herald.events.outbox import (
    CampaignEvent,
    NewEvent,
    anyone_subscribed,
    record_campaign_events,
    record_events,
)
from herald.events.types import EventType
from herald.kit.dialect import is_postgres
from herald.kit.types import UTCDateTime, parse_id, utcnow
from herald.models import Campaign, CampaignMessage, Contact, Engagement, MessageStatus, WhatsAppNumber
from herald.models.campaign_message import HELD
from herald.pricing import rates
from herald.pricing.card import RateCard
from herald.quality.breaker import BLOCK_CODES
from herald.replies.repository import remember_user_ids
from herald.webhooks import events as ev
from herald.webhooks.events import StoredEvent, defer, mark
from herald.whatsapp import StatusEvent

MARKETING_CAP = 131049
OPTED_OUT = 131050
# The order a message's statuses are folded in: Meta's statuses (``played`` among them), failures last.
RANK = {"sent": 1, "delivered": 2, "read": 3, "played": 3, "failed": 9}
_messages: Table = CampaignMessage.__table__  # type: ignore[assignment]


def _message_id(event: StatusEvent) -> int | None:
    data = event.biz_opaque_callback_data
    return parse_id(data)


# Plain rows, not ORM objects (the hot path of the applier): attribute access reads the same.
_COLUMNS = tuple(_messages.c[name] for name in (
    "id", "campaign_id", "contact_id", "status", "wamid", "sent_at", "delivered_at", "read_at", "failed_at",
    "replied_at", "error_msg", "error_code", "attempts", "price",
))


# Built once (the IN lists expand at execution); locked in id order, the order in which senders
# record their batches, so there is no deadlock cycle.
_BY_ID = select(*_COLUMNS).where(_messages.c.id.in_(bindparam("keys", expanding=True))).order_by(_messages.c.id)
_BY_WAMID = select(*_COLUMNS).where(_messages.c.wamid.in_(bindparam("keys", expanding=True))).order_by(_messages.c.id)
_LOCKED = {_BY_ID: _BY_ID.with_for_update(), _BY_WAMID: _BY_WAMID.with_for_update()}


async def _load(session: AsyncSession, statuses: list[StatusEvent]) -> list[Row[Any]]:
    ids = sorted({i for i in (_message_id(s) for s in statuses) if i is not None})
    wamids = sorted({s.wamid for s in statuses if _message_id(s) is None})
    # Two lookups, each on its index: an OR of the two makes planners fall back to a scan.
    found: list[Row[Any]] = []
    postgres = is_postgres(session)
    for stmt, keys in ((_BY_ID, ids), (_BY_WAMID, wamids)):
        if keys:
            found.extend((await session.execute(_LOCKED[stmt] if postgres else stmt, {"keys": keys})).all())
    return list({m.id: m for m in found}.values())


def _state(m: Row[Any]) -> MessageState:
    return MessageState(m.status, m.sent_at, m.delivered_at, m.read_at, m.failed_at, m.replied_at, m.error_msg, m.error_code)


async def apply_statuses(session: AsyncSession, rows: list[StoredEvent]) -> None:
    statuses = [(row, ev.status_from(row.payload)) for row in rows]
    messages = await _load(session, [s for _, s in statuses])
    by_id = {m.id: m for m in messages}
    by_wamid = {m.wamid: m for m in messages if m.wamid}
    grouped: dict[int, list[tuple[StoredEvent, StatusEvent]]] = defaultdict(list)
    for row, status in statuses:
        message = by_id.get(_message_id(status) or -1) or by_wamid.get(status.wamid)
        if message is None:
            mark(row, "unmatched")  # kept in the log: not a message Herald sent
        elif message.wamid and message.wamid != status.wamid:
            mark(row, "stale")  # a status of an earlier attempt of a message that was re-sent
        elif message.status in HELD:
            defer(row)  # its sender has not recorded the send yet
        else:
            grouped[message.id].append((row, status))
    deltas: dict[int, Counter[str]] = defaultdict(Counter)
    reasons: dict[int, Counter[str]] = defaultdict(Counter)
    updates: list[tuple[tuple[str, ...], dict[str, Any]]] = []
    released: list[tuple[int, int]] = []
    opted_out: list[int] = []
    user_ids: dict[int, str] = {}
    cards = await _cards(session, [by_id[i] for i, items in grouped.items() if _pricing(by_id[i], items)])
    costs: dict[int, float] = defaultdict(float)
    events: list[CampaignEvent] = []
    emit = await anyone_subscribed(session)
    for message_id, items in grouped.items():
        message = by_id[message_id]
        if user_id := next((s.recipient_user_id for _, s in items if s.recipient_user_id), None):
            user_ids[message.contact_id] = user_id
        before = _state(message)
        after, code = _fold(before, [s for _, s in items])
        retry_in = None
        if after.status == MessageStatus.failed and code == MARKETING_CAP:
            retry_in = await _marketing_retry_in(session, message)
        retry_later = retry_in is not None
        if retry_later:  # tried again later; Meta's reason kept as the message's last error
            after = MessageState(MessageStatus.pending, None, None, None, None, None, after.error_msg, after.error_code)
        deltas[message.campaign_id].update(_counter_deltas(before, after))
        if code is not None and before.status != MessageStatus.failed:  # the quality breaker's counts
            quality = deltas[message.campaign_id]
            quality["quality_failures"] += after.status == MessageStatus.failed
            quality["quality_blocks"] += code in BLOCK_CODES
        if bucket(after.status) == "not_sent" and bucket(before.status) != "not_sent":
            reasons[message.campaign_id][after.error_msg or "failed"] += 1
            released.append((message.campaign_id, message.contact_id))
        if code == OPTED_OUT:
            opted_out.append(message.contact_id)
        wamid = None if retry_later else (message.wamid or items[0][1].wamid)
        priced = _price(message, items, cards)
        if priced is not None:
            costs[message.campaign_id] += priced[1]
        updates.append(_row_update(message, after, wamid, retry_in, priced))
        if emit:
            events.extend(_message_events(message, before, after, wamid))
        for row, _ in items:
            mark(row, "applied")
    await _write(session, updates)
    # Several campaigns in one transaction: in the lock order (see herald.campaigns.counters).
    await counters.add_per_campaign(session, deltas, reasons, costs)
    await _release(session, released)
    # A status names the recipient's business-scoped user id (docs/whatsapp.md, "Username users"):
    # kept on a contact that has none, so the user still matches once their phone is hidden.
    await remember_user_ids(session, user_ids)
    await record_campaign_events(session, events)
    if opted_out:
        now = utcnow()
        newly = list((await session.execute(
            update(Contact).where(Contact.id.in_(opted_out), Contact.opted_out_at.is_(None)).values(opted_out_at=now)
            .returning(Contact.id, Contact.org_id).execution_options(synchronize_session=False)
        )).all())
        await record_events(session, [
            NewEvent(org_id, EventType.contact_opted_out, {"contact_id": contact_id, "reason": "error 131050"}, now)
            for contact_id, org_id in newly
        ])


# The message events a status can report, with the time column each one's moment is read from.
_STATUS_EVENTS = (
    (EventType.message_sent, "sent_at"), (EventType.message_delivered, "delivered_at"), (EventType.message_read, "read_at"),
)


def _message_events(message: Row[Any], before: MessageState, after: MessageState, wamid: str | None) -> list[CampaignEvent]:
    """One event per step this round recorded for the first time (a ``delivered`` arriving after its
    ``read`` included), each at its own time; ``failed`` with Meta's code and reason."""
    data = {"message_id": message.id, "contact_id": message.contact_id, "wamid": wamid}
    events = []
    for event_type, column in _STATUS_EVENTS:
        at = getattr(after, column)
        if at is not None and getattr(before, column) is None:
            events.append(CampaignEvent(message.campaign_id, event_type, data, at))
    if after.status == MessageStatus.failed and before.status != MessageStatus.failed:
        events.append(CampaignEvent(message.campaign_id, EventType.message_failed, {
            **data, "error_code": after.error_code, "reason": after.error_msg, "stage": "status"}, after.failed_at))
    return events


def _pricing(message: Row[Any], items: list[tuple[StoredEvent, StatusEvent]]) -> StatusEvent | None:
    """The first status of a message not priced yet that carries Meta's ``pricing`` object."""
    if message.price is not None:
        return None
    return next((s for _, s in items if s.pricing_category), None)


async def _cards(session: AsyncSession, messages: list[Row[Any]]) -> dict[int, RateCard]:
    """Campaign id → its organization's rate card, for the messages about to be priced (one query each)."""
    campaign_ids = {m.campaign_id for m in messages}
    if not campaign_ids:
        return {}
    orgs: dict[int, int] = dict((await session.execute(
        select(Campaign.id, Campaign.org_id).where(Campaign.id.in_(campaign_ids))
    )).all())
    cards = await rates.cards_of(session, set(orgs.values()))
    return {campaign_id: cards[org_id] for campaign_id, org_id in orgs.items() if org_id in cards}


def _price(message: Row[Any], items: list[tuple[StoredEvent, StatusEvent]],
           cards: dict[int, RateCard]) -> tuple[str, float] | None:
    """(Meta's category, the price of the organization's card now) when a status first prices the
    message: 0 when Meta says it is not billable (docs/costs.md, "Actual cost")."""
    status = _pricing(message, items)
    card = cards.get(message.campaign_id)
    if status is None or card is None:
        return None
    category = (status.pricing_category or "").lower()[:32]
    if status.pricing_billable is False:
        return category, 0.0
    return category, card.price_of_phone(status.recipient_id, category)


_DELTAS: dict[tuple[str, bool, str, bool], dict[str, int]] = {}


def _counter_deltas(before: MessageState, after: MessageState) -> dict[str, int]:
    """``counter_deltas``, which depends only on the statuses and whether a reply is recorded."""
    key = (before.status, before.replied_at is None, after.status, after.replied_at is None)
    deltas = _DELTAS.get(key)
    if deltas is None:
        deltas = _DELTAS[key] = counter_deltas(before, after)
    return deltas


def _fold(state: MessageState, statuses: list[StatusEvent]) -> tuple[MessageState, int | None]:
    code = None
    for status in sorted(statuses, key=lambda s: (RANK.get(s.status, 0), s.timestamp)):
        if status.status == MessageStatus.failed:
            code = status.error_code
        state = apply_status(state, status.status, status.timestamp, reason=status.failure_reason, code=status.error_code)
    return state, code


async def _marketing_retry_in(session: AsyncSession, message: Row[Any]) -> timedelta | None:
    """When a message failed with 131049 is tried again (``campaigns/marketing_retry.py``); None when its
    campaign no longer runs or the campaign's deadline has passed (the failure is then final). On a number
    that sends marketing templates through the Marketing Messages API, the deadline is cut to its time to
    live, as the sender cuts it for a 131049 answered at once (``dispatch/marketing_messages.py``)."""
    row = (await session.execute(
        select(Campaign.status, Campaign.marketing_retry_days, WhatsAppNumber.marketing_messages_api,
               WhatsAppNumber.marketing_messages_ttl_seconds)
        .outerjoin(WhatsAppNumber, WhatsAppNumber.id == Campaign.whatsapp_number_id)
        .where(Campaign.id == message.campaign_id)
    )).one_or_none()
    if row is None or row[0] not in RUNNING:
        return None
    days = marketing_retry.deadline_days(row[1], row[3] if row[2] else None)
    return marketing_retry.next_try_in(message.attempts, days)


# Columns a status can change besides ``status``; each update writes only those that changed, so a
# round is a few executemany groups of short rows rather than one with every column bound per row.
_CHANGEABLE = ("wamid", "sent_at", "delivered_at", "read_at", "failed_at", "replied_at", "error_msg", "error_code")
_UPDATES: dict[tuple[str, ...], Any] = {}


def _row_update(message: Row[Any], after: MessageState, wamid: str | None, retry_in: timedelta | None,
                priced: tuple[str, float] | None = None) -> tuple[tuple[str, ...], dict[str, Any]]:
    new = {
        "wamid": wamid, "sent_at": after.sent_at, "delivered_at": after.delivered_at, "read_at": after.read_at,
        "failed_at": after.failed_at, "replied_at": after.replied_at, "error_msg": after.error_msg,
        "error_code": after.error_code,
    }
    changed = tuple(c for c in _CHANGEABLE if new[c] != getattr(message, c))
    params = {"_id": message.id, "_old": message.status, "_status": after.status, **{f"_{c}": new[c] for c in changed}}
    if retry_in is not None:
        params["_next_attempt_at"] = utcnow() + retry_in
        params["_wait_reason"] = marketing_retry.WAIT_REASON
        changed += ("next_attempt_at", "wait_reason")
    if priced is not None:
        params["_pricing_category"], params["_price"] = priced
        changed += ("pricing_category", "price")
    return changed, params


def _update_statement(columns: tuple[str, ...]) -> Any:
    stmt = _UPDATES.get(columns)
    if stmt is None:
        t = UTCDateTime()
        values: dict[str, Any] = {"status": bindparam("_status"), "next_attempt_at": None, "lease_until": None}
        for column in columns:
            values[column] = bindparam(f"_{column}", type_=t) if column.endswith("_at") else bindparam(f"_{column}")
        stmt = _UPDATES[columns] = (
            update(_messages)
            .where(_messages.c.id == bindparam("_id"), _messages.c.status == bindparam("_old"))
            .values(**values)
            .execution_options(synchronize_session=False)
        )
    return stmt


async def _write(session: AsyncSession, updates: list[tuple[tuple[str, ...], dict[str, Any]]]) -> None:
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = defaultdict(list)
    for columns, params in updates:
        groups[columns].append(params)
    written = 0
    for columns, rows in groups.items():
        result = await session.execute(_update_statement(columns), rows)
        written += result.rowcount  # type: ignore[attr-defined]
    if written != len(updates):
        # Rows are locked (PostgreSQL) or the database is (SQLite): nothing else can move them.
        raise RuntimeError("campaign messages changed while their statuses were applied")


async def _release(session: AsyncSession, pairs: list[tuple[int, int]]) -> None:
    for campaign_id, contact_id in pairs:
        await session.execute(
            delete(Engagement).where(Engagement.contact_id == contact_id, Engagement.campaign_id == campaign_id)
        )
