"""Applying inbound messages (docs/architecture.md, "Bot flows and replies"; docs/whatsapp.md,
"Inbound messages").

Each message is stored once, whole (``payload.raw`` is the object Meta sent). What it is comes from
one table (``inbound_kinds``): a reply of the contact's own marks the campaign message replied and
enqueues a delivery to the campaign's bot flow in the same transaction (an outbox: the delivery
exists if and only if the reply was recorded); a reply whose whole text is an opt-out or opt-in
keyword also changes the contact's marketing consent. Anything else (a system message, a removed
reaction, a deleted or edited message, an error) is never counted as a reply: it is applied to the
contact (``contact_changes``) and reaches the bot flow as its own event type where a bot can use it.

Attribution, in order: (a) ``context.id`` (or the message a reaction is on) names a campaign message
of the organization → that campaign, even if the contact is no longer engaged (the campaign ended,
the engagement was released); (b) the contact's engagement in a running campaign; (c) nothing:
stored, not forwarded.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from herald.campaigns import counters
from herald.campaigns.message_state import MessageState, apply_reply, counter_deltas
from herald.events.outbox import CampaignEvent, record_campaign_events
from herald.events.types import EventType
from herald.kit.types import utcnow
from herald.models import CampaignMessage, MessageStatus, WhatsAppNumber
from herald.models.campaign_message import HELD
from herald.replies import keywords, repository
from herald.replies.payloads import REPLY_TYPE, reply_body
from herald.webhooks import contact_changes, inbound_kinds, opting
from herald.webhooks import events as ev
from herald.webhooks.events import StoredEvent, defer, mark
from herald.webhooks.inbound_kinds import Kind
from herald.whatsapp import InboundMessage


@dataclass(frozen=True, slots=True)
class Attribution:
    contact_id: int | None
    campaign_id: int | None
    message: CampaignMessage | None


NOBODY = Attribution(None, None, None)


async def apply_inbound(session: AsyncSession, rows: list[StoredEvent]) -> None:
    # Event time order within the round, so two replies of one contact reach the bot in the order written.
    items = sorted(((row, ev.inbound_from(row.payload)) for row in rows), key=lambda p: (p[1].timestamp, p[0].id))
    numbers = await repository.numbers_by_phone_number_id(session, {m.phone_number_id for _, m in items})
    waiting: set[str] = set()
    keyword_lists: dict[int, keywords.Keywords] = {}  # per organization, read once a round
    for row, message in items:
        number = numbers.get(message.phone_number_id)
        if number is None:
            mark(row, "unknown_number")
            continue
        sender = message.from_wa_id or message.from_user_id or ""
        if sender in waiting:
            defer(row)  # an earlier message of this sender waits: a later one must not overtake it
            continue
        outcome = await apply_message(session, number, message, keyword_lists)
        if outcome is None:
            waiting.add(sender)
            defer(row)
        else:
            mark(row, outcome)


async def apply_message(session: AsyncSession, number: WhatsAppNumber, message: InboundMessage,
                        keyword_lists: dict[int, keywords.Keywords] | None = None) -> str | None:
    """Stores, attributes and forwards one message; its outcome, or None to try again shortly."""
    kind = inbound_kinds.classify(message)
    contact_id = await repository.contact_id_for_sender(
        session, org_id=number.org_id, wa_id=message.from_wa_id, user_id=message.from_user_id
    )
    if contact_id is None and kind is inbound_kinds.SYSTEM:
        contact_id = await contact_changes.contact_named_by(session, org_id=number.org_id, message=message)
    target = await attribute(session, org_id=number.org_id, contact_id=contact_id, message=message)
    if target.message is not None and target.message.status in HELD:
        return None  # its sender has not recorded the send yet
    if target.contact_id is not None and message.from_user_id:
        await repository.remember_user_id(session, contact_id=target.contact_id, user_id=message.from_user_id)
    inbound_id = await repository.insert_inbound(session, _inbound_row(number, target, message))
    if inbound_id is None:
        return "duplicate"
    if target.contact_id is None:
        return "unknown_sender"
    if not kind.reply:
        return await _not_a_reply(session, org_id=number.org_id, target=target, message=message, kind=kind,
                                  inbound_id=inbound_id)
    await _keyword(session, org_id=number.org_id, contact_id=target.contact_id, message=message,
                   lists={} if keyword_lists is None else keyword_lists)
    if target.campaign_id is None:
        return "stored"
    if target.message is not None:
        await record_reply(session, target.message, message)
    return await _forward(session, org_id=number.org_id, target=target, message=message, inbound_id=inbound_id)


async def _not_a_reply(session: AsyncSession, *, org_id: int, target: Attribution, message: InboundMessage,
                       kind: Kind, inbound_id: int) -> str:
    """Applied to the contact, never counted; forwarded as its own event where a bot can use it."""
    assert target.contact_id is not None
    outcome = kind.name
    if kind is inbound_kinds.SYSTEM:
        outcome = await contact_changes.apply_system(session, org_id=org_id, contact_id=target.contact_id,
                                                     message=message)
    if target.campaign_id is None or kind.bot_event is None:
        return f"{outcome}:stored"
    forwarded = await _forward(session, org_id=org_id, target=target, message=message, inbound_id=inbound_id,
                               event_type=kind.bot_event)
    return f"{outcome}:{forwarded}"


async def _keyword(session: AsyncSession, *, org_id: int, contact_id: int, message: InboundMessage,
                   lists: dict[int, keywords.Keywords]) -> None:
    """A reply whose whole text is an opt-out (opt-in) keyword opts the contact out (in), as Meta's
    user_preferences stop (resume) does; the reply still counts and still reaches the bot flow."""
    text = message.text if message.type == "text" else message.button_text if message.type == "button" else None
    if not text:
        return
    if org_id not in lists:
        lists[org_id] = await keywords.keywords_of(session, org_id=org_id)
    found = lists[org_id].match(text)
    if found is None:
        return
    action, word = found
    if action == "opt_out":
        await opting.opt_out(session, org_id=org_id, contact_id=contact_id, at=message.timestamp,
                             reason=f"replied {word}", keyword=word, wamid=message.wamid)
    else:
        await opting.opt_in(session, org_id=org_id, contact_id=contact_id, at=message.timestamp,
                            reason=f"replied {word}", keyword=word, wamid=message.wamid)


def _answered_wamid(message: InboundMessage) -> str | None:
    """The message of ours this one answers: its ``context.id``, or the message a reaction is on."""
    if message.context_id:
        return message.context_id
    reaction = (message.raw or {}).get("reaction")
    target = reaction.get("message_id") if isinstance(reaction, dict) else None
    return target if isinstance(target, str) and target else None


async def attribute(
    session: AsyncSession, *, org_id: int, contact_id: int | None, message: InboundMessage
) -> Attribution:
    if answered := _answered_wamid(message):
        replied_to = await repository.campaign_message_by_wamid(session, org_id=org_id, wamid=answered)
        # An unmatched sender replying to our message is that message's contact (e.g. a wa_id Meta
        # rewrote, or a username-only user): the context id was sent to them alone.
        if replied_to is not None and contact_id in (None, replied_to.contact_id):
            return Attribution(replied_to.contact_id, replied_to.campaign_id, replied_to)
    if contact_id is None:
        return NOBODY
    campaign_id = await repository.engaged_campaign_id(session, contact_id=contact_id)
    if campaign_id is None:
        return Attribution(contact_id, None, None)
    campaign_message = await repository.campaign_message_of(session, campaign_id=campaign_id, contact_id=contact_id)
    return Attribution(contact_id, campaign_id, campaign_message)


def state_of(m: CampaignMessage) -> MessageState:
    return MessageState(m.status, m.sent_at, m.delivered_at, m.read_at, m.failed_at, m.replied_at, m.error_msg,
                        m.error_code)


async def record_reply(session: AsyncSession, campaign_message: CampaignMessage, message: InboundMessage) -> None:
    """First reply time on the campaign message, and the counters it moves."""
    if campaign_message.status in (MessageStatus.pending, MessageStatus.holdout):
        return  # not sent (yet, or ever: held out): the contact wrote on their own, this answers nothing we sent
    before = state_of(campaign_message)
    after = apply_reply(before, message.timestamp)
    if after == before:
        return
    changes = {"status": after.status, "sent_at": after.sent_at, "delivered_at": after.delivered_at,
               "replied_at": after.replied_at}
    if not await repository.record_reply(
        session, message_id=campaign_message.id, old_status=campaign_message.status, changes=changes
    ):
        # Rows are locked (PostgreSQL) or the database is (SQLite): nothing else can move them.
        raise RuntimeError("a campaign message changed while a reply was applied")
    await counters.add(session, campaign_id=campaign_message.campaign_id, **counter_deltas(before, after))
    if before.replied_at is None:
        await record_campaign_events(session, [CampaignEvent(campaign_message.campaign_id, EventType.message_replied, {
            "message_id": campaign_message.id, "contact_id": campaign_message.contact_id,
            "wamid": campaign_message.wamid, "reply_wamid": message.wamid}, message.timestamp)])


async def _forward(session: AsyncSession, *, org_id: int, target: Attribution, message: InboundMessage,
                   inbound_id: int, event_type: str = REPLY_TYPE) -> str:
    assert target.campaign_id is not None and target.contact_id is not None
    campaign = await repository.campaign(session, org_id=org_id, campaign_id=target.campaign_id)
    if campaign is None or campaign.bot_flow_id is None:
        return "no_bot_flow"
    contact = await repository.contact_card(session, contact_id=target.contact_id)
    await repository.insert_delivery(
        session, org_id=org_id, bot_flow_id=campaign.bot_flow_id, campaign_id=campaign.id,
        contact_id=target.contact_id, inbound_message_id=inbound_id, delivery_id=uuid.uuid4().hex,
        body=reply_body(campaign, contact, message, event_type=event_type), status="pending", attempts=0, next_attempt_at=utcnow(),
    )
    return "forwarded"


def _inbound_row(number: WhatsAppNumber, target: Attribution, message: InboundMessage) -> dict[str, object]:
    return {
        "org_id": number.org_id, "whatsapp_number_id": number.id, "contact_id": target.contact_id,
        "campaign_id": target.campaign_id, "wamid": message.wamid, "from_wa_id": message.from_wa_id,
        "type": message.type, "text": _text_of(message), "context_id": message.context_id,
        "payload": ev.to_payload(message), "sent_at": message.timestamp,
    }


def _text_of(message: InboundMessage) -> str | None:
    """What the user wrote or tapped, for reading the conversation; the details stay in ``payload``."""
    if message.text or message.button_text or message.interactive_title:
        return message.text or message.button_text or message.interactive_title
    raw = message.raw or {}
    content = raw.get(message.type)
    if not isinstance(content, dict):
        return None
    if message.type == "reaction":
        return _str(content.get("emoji"))
    if message.type == "system":
        return _str(content.get("body"))
    if message.type == "edit":
        edited = content.get("message")
        if isinstance(edited, dict):
            body = edited.get(edited.get("type") or "")
            if isinstance(body, dict):
                return _str(body.get("body")) or _str(body.get("caption"))
    if message.type == "location":
        return _str(content.get("name")) or f"{content.get('latitude')}, {content.get('longitude')}"
    return None


def _str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None
