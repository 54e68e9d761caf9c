"""Sending possibly-sent messages again: an operator's decision, never automatic.

A message is ``unknown`` when its request may have reached WhatsApp but Herald holds no answer:
the request timed out, or its sender died while it was ``sending`` (``dispatch/reaper.py``).
Meta's status webhooks usually resolve it within minutes, as they name the message
(``biz_opaque_callback_data``). One still unresolved ``HERALD_UNKNOWN_RESEND_AFTER_HOURS`` after it
became unknown (24 by default) is *stale*: the campaign's page lists those, and a writer may send
them again with one action. They go back to ``pending`` and the campaign's sender sends them at its
pace; the action is kept in the audit log (who, when, how many). Sending again may duplicate a
message that did reach the contact, which is why a person decides, and only while the campaign
runs (active or paused): an ended campaign has released its contacts to other campaigns.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from herald.auth.principal import Principal
from herald.campaigns import counters, service
from herald.campaigns.lifecycle import Status
from herald.kit.errors import Conflict
from herald.kit.types import utcnow
from herald.models import AuditEvent, CampaignMessage, Contact, MessageStatus

SENT_AGAIN = "messages.sent_again"  # the audit action
RUNNING = frozenset({Status.active, Status.paused})
MAX_LISTED = 1000


@dataclass(frozen=True, slots=True)
class StaleUnknown:
    message_id: int
    contact_id: int
    phone: str | None
    name: str | None
    unknown_since: datetime | None
    attempts: int
    error_msg: str | None


@dataclass(frozen=True, slots=True)
class SendAgainRecord:
    at: datetime
    user_id: int | None
    api_key_id: int | None
    messages: int


def _stale(campaign_id: int, older_than: timedelta, now: datetime):  # type: ignore[no-untyped-def]
    return and_(
        CampaignMessage.campaign_id == campaign_id,
        CampaignMessage.status == MessageStatus.unknown,
        CampaignMessage.unknown_since <= now - older_than,
    )


async def list_stale(
    session: AsyncSession, *, org_id: int, campaign_id: int, older_than: timedelta, limit: int = MAX_LISTED,
) -> tuple[int, list[StaleUnknown]]:
    """How many of the campaign's messages are stale unknowns, and the first ``limit`` of them."""
    await service.get_campaign(session, org_id=org_id, campaign_id=campaign_id)  # 404 for another org's
    where = _stale(campaign_id, older_than, utcnow())
    total = int((await session.execute(select(func.count()).select_from(CampaignMessage).where(where))).scalar_one())
    rows = await session.execute(
        select(CampaignMessage.id, CampaignMessage.contact_id, Contact.phone, Contact.name,
               CampaignMessage.unknown_since, CampaignMessage.attempts, CampaignMessage.error_msg)
        .join(Contact, Contact.id == CampaignMessage.contact_id)
        .where(where)
        .order_by(CampaignMessage.id)
        .limit(limit)
    )
    return total, [StaleUnknown(*row) for row in rows]


async def send_again(
    session: AsyncSession, *, principal: Principal, campaign_id: int, older_than: timedelta,
    message_ids: list[int] | None = None,
) -> int:
    """Stale unknown messages of a running campaign back to ``pending`` (all of them, or those of
    ``message_ids`` that are stale), audited; returns how many. Lock order (``campaigns/counters.py``):
    the messages, then the campaign's counters."""
    campaign = await service.get_campaign(session, org_id=principal.org_id, campaign_id=campaign_id)
    if campaign.status not in RUNNING:
        raise Conflict(
            f"the campaign is {campaign.status}: messages can be sent again only while it is active or paused",
            code="campaign_not_running",
        )
    now = utcnow()
    where = _stale(campaign_id, older_than, now)
    if message_ids is not None:
        where = and_(where, CampaignMessage.id.in_(message_ids))
    moved = len((await session.execute(
        update(CampaignMessage).where(where)
        .values(status=MessageStatus.pending, unknown_since=None, next_attempt_at=None, error_msg=None, error_code=None)
        .returning(CampaignMessage.id)
        .execution_options(synchronize_session=False)
    )).all())
    if moved:
        await counters.add(session, campaign_id=campaign_id, pending=moved, unknown=-moved)
        session.add(AuditEvent(
            org_id=principal.org_id, user_id=principal.user_id, api_key_id=principal.api_key_id,
            action=SENT_AGAIN, campaign_id=campaign_id,
            detail={"messages": moved, "unknown_for_hours": older_than.total_seconds() / 3600},
            at=now,
        ))
    return moved


async def history(session: AsyncSession, *, org_id: int, campaign_id: int) -> list[SendAgainRecord]:
    """The campaign's send-again actions, newest first."""
    rows = await session.execute(
        select(AuditEvent.at, AuditEvent.user_id, AuditEvent.api_key_id, AuditEvent.detail)
        .where(AuditEvent.org_id == org_id, AuditEvent.campaign_id == campaign_id, AuditEvent.action == SENT_AGAIN)
        .order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
    )
    return [SendAgainRecord(at, user_id, key_id, int(detail.get("messages", 0))) for at, user_id, key_id, detail in rows]
