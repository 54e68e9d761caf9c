"""Hand-built campaigns for the report tests, and ``recount``: every counter from the message rows."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from herald.campaigns import counters
from herald.campaigns.message_state import MessageState
from herald.kit.db import Database
from herald.kit.types import utcnow
from herald.models import Campaign, CampaignMessage, Contact, FunnelEvent
from herald.models.campaign_stats import STAT_FIELDS
from herald.reports import service

T0 = datetime(2026, 11, 27, 10, 0, 0, tzinfo=UTC)
TIMES = ("sent_at", "delivered_at", "read_at", "failed_at", "replied_at")


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


async def make_campaign(database: Database, *, org_id: int, name: str = "Report") -> int:
    async with database.session() as session:
        campaign = Campaign(org_id=org_id, name=name, status="active", kind="real", missing=[], started_at=T0)
        session.add(campaign)
        await session.flush()
        await counters.ensure_row(session, campaign_id=campaign.id)
        return campaign.id


async def add_messages(database: Database, *, org_id: int, campaign_id: int, specs: list[dict[str, Any]]) -> list[int]:
    """Each spec: phone, name?, status, error_msg?, wamid?, *_at?, steps? {step: time}, attempts?,
    next_attempt_at?, wait_reason?, variant?. Counters follow
    the rows as the engine keeps them; returns the contact ids."""
    ids = []
    async with database.session() as session:
        for spec in specs:
            contact = Contact(org_id=org_id, phone=spec["phone"], phone_raw=spec["phone"], name=spec.get("name"))
            session.add(contact)
            await session.flush()
            message = CampaignMessage(
                campaign_id=campaign_id, contact_id=contact.id, status=spec["status"],
                error_msg=spec.get("error_msg"), wamid=spec.get("wamid"), **{t: spec.get(t) for t in TIMES},
                attempts=spec.get("attempts", 0), next_attempt_at=spec.get("next_attempt_at"),
                wait_reason=spec.get("wait_reason"), variant=spec.get("variant"),
            )
            session.add(message)
            for step, when in spec.get("steps", {}).items():
                session.add(FunnelEvent(campaign_id=campaign_id, contact_id=contact.id, step=step, at=when))
            await _count(session, campaign_id=campaign_id, spec=spec)
            ids.append(contact.id)
    return ids


async def _count(session: AsyncSession, *, campaign_id: int, spec: dict[str, Any]) -> None:
    state = MessageState(
        status=spec["status"], sent_at=spec.get("sent_at"), delivered_at=spec.get("delivered_at"),
        read_at=spec.get("read_at"), failed_at=spec.get("failed_at"), replied_at=spec.get("replied_at"),
        error_msg=spec.get("error_msg"), error_code=None,
    )
    flags = state.counted()
    await counters.add(session, campaign_id=campaign_id, targeted=1, **flags)
    if flags["not_sent"]:
        reason = spec.get("error_msg") or "failed"
        await counters.add_not_sent_reasons(session, campaign_id=campaign_id, reasons=Counter({reason: 1}))
    if spec.get("sent_at") and flags["sent"]:
        await counters.add_sends_many(session, {campaign_id: [spec["sent_at"]]})


async def recount(session: AsyncSession, campaign_id: int) -> dict[str, Any]:
    """The stats body recomputed from the ``campaign_messages`` rows with the definitions of docs/architecture.md, "Stats"."""
    rows = (await session.execute(
        select(CampaignMessage.status, CampaignMessage.replied_at, CampaignMessage.error_msg,
               CampaignMessage.next_attempt_at, CampaignMessage.wait_reason)
        .where(CampaignMessage.campaign_id == campaign_id)
    )).all()
    body: dict[str, Any] = dict.fromkeys(STAT_FIELDS, 0)
    reasons: Counter[str] = Counter()
    waiting: Counter[str] = Counter()
    due: list[datetime] = []
    now = utcnow()
    for status, replied_at, error_msg, next_attempt_at, wait_reason in rows:
        if status == "pending" and wait_reason and next_attempt_at is not None and next_attempt_at > now:
            waiting[wait_reason] += 1
            due.append(next_attempt_at)
        body["targeted"] += 1
        if status in ("pending", "claimed", "sending"):
            body["pending"] += 1
        elif status in ("sent", "delivered", "read"):
            body["sent"] += 1
        elif status == "unknown":
            body["unknown"] += 1
        elif status == "holdout":
            body["holdout"] += 1
        else:
            assert status in ("failed", "not_sent"), status
            body["not_sent"] += 1
            reasons[error_msg or "failed"] += 1
        received = status in ("delivered", "read")
        body["received"] += received
        body["read"] += status == "read"
        body["replied"] += received and replied_at is not None
    body["not_sent_reasons"] = dict(reasons)
    body["received_pct"] = _pct(body["received"], body["sent"])
    body["read_pct"] = _pct(body["read"], body["received"])
    body["replied_pct"] = _pct(body["replied"], body["received"])
    body["waiting"] = sum(waiting.values())
    body["waiting_reasons"] = dict(waiting)
    body["next_send_at"] = min(due) if due else None
    body["cost"] = await _recount_cost(session, campaign_id)
    # The quality breaker's counters count events as they are reported (a 131049 retried later, an
    # opt-out), which the rows do not keep: taken as the stats compute them (tests/quality checks them).
    breaker = await service.breaker_of(session, campaign_id=campaign_id)
    body["breaker"] = breaker.model_dump() if breaker is not None else None
    return body


async def _recount_cost(session: AsyncSession, campaign_id: int) -> dict[str, Any]:
    """The actual cost summed from the messages' prices; the committed cost and the budget are the
    campaign row's (the committed cost is the senders' forecast of what left: docs/costs.md)."""
    actual = (await session.execute(
        select(func.coalesce(func.sum(CampaignMessage.price), 0.0)).where(CampaignMessage.campaign_id == campaign_id)
    )).scalar_one()
    committed, budget = (await session.execute(
        select(Campaign.committed_cost, Campaign.budget).where(Campaign.id == campaign_id)
    )).one()
    return {"currency": "USD", "actual": round(float(actual), 6), "committed": round(committed, 6), "budget": budget,
            "budget_used_pct": round(100.0 * committed / budget, 1) if budget else None}


def _pct(part: int, whole: int) -> float:
    return round(100 * part / whole, 1) if whole else 0.0
