"""The SQL the sender runs, besides claiming (``claim.py``) and recording outcomes (``outcomes.py``):
who a batch's messages go to, and recording parts of batches (pausing a campaign when a send said so)."""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from sqlalchemy import BigInteger, any_, bindparam, delete, exists, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession

from herald.campaigns.lifecycle import Status, transition
from herald.dispatch.outcomes import CampaignOutcomes, NotSent, Outcome, Sent, record_many
from herald.events.outbox import CampaignEvent, anyone_subscribed, record_campaign_events
from herald.events.types import EventType
from herald.kit.db import Database
from herald.kit.dialect import is_postgres
from herald.kit.errors import Conflict
from herald.models import CampaignMessage, Contact, ContactValuedTag, InboxCase, SendClaim
from herald.whatsapp.recipient import address

log = logging.getLogger("herald.dispatch")


@dataclass(slots=True)
class Recipients:
    """A batch's contacts: address and name, those with an open inbox case, their valued tags.

    The address is the phone, or the WhatsApp user id of a contact without one, or None when a
    contact has neither in a form Meta accepts (``whatsapp.recipient.address``)."""

    contacts: dict[int, tuple[str | None, str | None]] = field(default_factory=dict)
    open_cases: set[int] = field(default_factory=set)
    valued: defaultdict[int, dict[str, str]] = field(default_factory=lambda: defaultdict(dict))


async def load_recipients(session: AsyncSession, contact_ids: list[int], valued_keys: Any) -> Recipients:
    """One query for the contacts and whether each has an open inbox case (a partial-index probe), and
    one for the valued tags among ``valued_keys`` (none when the template needs none)."""
    found = Recipients()
    open_case = (
        exists().where(InboxCase.contact_id == Contact.id, InboxCase.status == "open").label("open_case")
    )
    for cid, phone, user_id, name, has_case in (
        await session.execute(
            select(Contact.id, Contact.phone, Contact.wa_user_id, Contact.name, open_case)
            .where(_among(session, Contact.id, contact_ids))
        )
    ):
        found.contacts[cid] = (address(phone, user_id), name)
        if has_case:
            found.open_cases.add(cid)
    if valued_keys:
        for cid, key, value in (
            await session.execute(
                select(ContactValuedTag.contact_id, ContactValuedTag.key, ContactValuedTag.value).where(
                    _among(session, ContactValuedTag.contact_id, contact_ids), ContactValuedTag.key.in_(valued_keys)
                )
            )
        ):
            found.valued[cid][key] = value
    return found


async def message_variants(session: AsyncSession, message_ids: list[int]) -> dict[int, int]:
    """The drawn A/B variant of each message that has one."""
    rows = await session.execute(
        select(CampaignMessage.id, CampaignMessage.variant)
        .where(_among(session, CampaignMessage.id, message_ids), CampaignMessage.variant.is_not(None)))
    return {int(message_id): int(variant) for message_id, variant in rows if variant is not None}


class PartToRecord(NamedTuple):
    """Outcomes of one batch (or the part of it that has them so far) to record: the campaign is paused
    when ``pause_reason`` is set, the claim deleted when ``claim_id`` is (its last part), and
    ``cost``, the forecast price of its messages that left or may have, added to the campaign's
    ``committed_cost`` (its budget's count)."""

    campaign_id: int
    outcomes: list[Outcome]
    pause_reason: str | None = None
    claim_id: int | None = None
    cost: float = 0.0


async def record_parts(database: Database, parts: list[PartToRecord]) -> None:
    """Parts of batches, of one campaign or several, in one transaction (``recorder.py``)."""
    pauses = sorted({(p.campaign_id, p.pause_reason) for p in parts if p.pause_reason})

    async def pause() -> None:
        for campaign_id, reason in pauses:
            await _pause(session, campaign_id, reason)

    async with database.transaction() as session:
        claims = sorted(p.claim_id for p in parts if p.claim_id is not None)
        if claims:  # the claims before their messages, as the reaper takes them
            await session.execute(delete(SendClaim).where(SendClaim.id.in_(claims)))
        per_campaign: dict[int, CampaignOutcomes] = {}
        for part in parts:
            was = per_campaign.get(part.campaign_id)
            per_campaign[part.campaign_id] = (
                CampaignOutcomes(part.campaign_id, part.outcomes, part.cost) if was is None
                else CampaignOutcomes(part.campaign_id, was.outcomes + part.outcomes, was.cost + part.cost)
            )
        # A pause changes the campaign's row: after the messages, before the counters (the lock order of
        # herald.campaigns.counters, which the webhook applier's template pauses follow too).
        await record_many(session, list(per_campaign.values()), then=pause if pauses else None)
        if await anyone_subscribed(session):
            await record_campaign_events(session, [
                event for part in parts for event in _message_events(part.campaign_id, part.outcomes)
            ])


def _message_events(campaign_id: int, outcomes: list[Outcome]) -> list[CampaignEvent]:
    """``message.sent`` for each accepted send, ``message.failed`` for each WhatsApp refused."""
    events = []
    for outcome in outcomes:
        if isinstance(outcome, Sent):
            events.append(CampaignEvent(campaign_id, EventType.message_sent, {
                "message_id": outcome.message_id, "wamid": outcome.wamid}, outcome.at))
        elif isinstance(outcome, NotSent) and outcome.code is not None:
            events.append(CampaignEvent(campaign_id, EventType.message_failed, {
                "message_id": outcome.message_id, "contact_id": outcome.contact_id, "error_code": outcome.code,
                "reason": outcome.reason, "stage": "send"}, outcome.at))
    return events


def _among(session: Any, column: Any, ids: list[int]) -> Any:
    """``column IN ids``; on PostgreSQL ``= ANY(array)``, one parameter instead of a batch's 500
    (half the client's CPU for the statement)."""
    if is_postgres(session):
        return column == any_(bindparam("ids", ids, type_=ARRAY(BigInteger)))
    return column.in_(ids)


async def _pause(session: Any, campaign_id: int, reason: str) -> None:
    try:
        await transition(
            session, campaign_id=campaign_id, to=Status.paused, values={"status_reason": reason}
        )
        log.warning("campaign %s paused: %s", campaign_id, reason)
    except Conflict:
        pass
