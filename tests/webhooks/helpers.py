"""Numbers, campaigns and messages for webhook tests, signed POSTs, and draining the applier."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

import httpx
import orjson
from sqlalchemy import func, insert, select

from herald.campaigns import counters
from herald.kit.db import Database
from herald.kit.types import utcnow
from herald.models import Campaign, CampaignMessage, CampaignNotSentReason, Contact, WebhookEvent
from herald.webhooks.applier import apply_round
from herald.whatsapp.webhooks import signature_header
from tests.dispatch.helpers import wait_until

WEBHOOK = "/webhooks/whatsapp"
APP_SECRET = "corpus-app-secret"
NUMBER_1, WABA_1 = "1090001", "102290129340398"
NUMBER_2, WABA_2 = "1090002", "102290129340399"
MESSAGE_FIELDS = ("status", "wamid", "sent_at", "delivered_at", "read_at", "failed_at", "error_msg", "error_code")


def corpus_wamid(n: int) -> str:
    """The wamid of campaign message ``n`` in tests/whatsapp/corpus (README.md)."""
    return f"wamid.HBgNNTUxMTk4ODg4Nzc3NxUCABEYEjQ2{n:018X}AA=="


async def post_signed(client: httpx.AsyncClient, raw: bytes, secret: str = APP_SECRET) -> httpx.Response:
    headers = {"content-type": "application/json", "x-hub-signature-256": signature_header(raw, secret)}
    return await client.post(WEBHOOK, content=raw, headers=headers)


async def drain(database: Database) -> int:
    """Applies due events until none is left; returns how many batches it took."""
    batches = 0
    while await apply_round(database):
        batches += 1
    return batches


async def event_count(database: Database, **where: Any) -> int:
    async with database.read_session() as session:
        stmt = select(func.count()).select_from(WebhookEvent).filter_by(**where)
        return int((await session.execute(stmt)).scalar_one())


async def unapplied(database: Database) -> int:
    async with database.read_session() as session:
        stmt = select(func.count()).select_from(WebhookEvent).where(WebhookEvent.applied_at.is_(None))
        return int((await session.execute(stmt)).scalar_one())


async def outcomes(database: Database) -> dict[str, str | None]:
    async with database.read_session() as session:
        rows = await session.execute(select(WebhookEvent.dedupe_key, WebhookEvent.outcome))
        return dict(rows.all())


async def make_campaign(database: Database, *, org_id: int, number_id: int, status: str = "active",
                        name: str = "Webhooks") -> int:
    async with database.session() as session:
        campaign = Campaign(
            org_id=org_id, name=name, status=status, kind="real", whatsapp_number_id=number_id,
            template_name="promo", template_language="en_US", variables={}, missing=[],
            started_at=utcnow(), materialized_at=utcnow(),
        )
        session.add(campaign)
        await session.flush()
        await counters.ensure_row(session, campaign_id=campaign.id)
        return campaign.id


async def make_messages(database: Database, *, org_id: int, campaign_id: int, specs: Iterable[dict[str, Any]],
                        phone_offset: int = 0) -> list[int]:
    """One contact and one campaign message per spec (``status``, ``wamid``, ``sent_at``…), counted.

    Inserted with Core in bulk so that tens of thousands of rows stay quick; the campaign's
    counters get the buckets of the rows, as the dispatcher would have left them.
    """
    specs = list(specs)
    now = utcnow()
    async with database.session() as session:
        contact_rows = [
            {"org_id": org_id, "phone": f"+1415{phone_offset + i:07d}", "phone_raw": f"+1415{phone_offset + i:07d}",
             "created_at": now, "updated_at": now}
            for i in range(len(specs))
        ]
        contact_ids: list[int] = []
        for start in range(0, len(contact_rows), 1000):
            result = await session.execute(insert(Contact).returning(Contact.id), contact_rows[start : start + 1000])
            contact_ids.extend(result.scalars().all())
        message_rows = [
            {"campaign_id": campaign_id, "contact_id": contact_id, "attempts": 1, "status": spec.get("status", "sent"),
             "wamid": spec.get("wamid"), "sent_at": spec.get("sent_at"), "lease_until": spec.get("lease_until")}
            for contact_id, spec in zip(contact_ids, specs, strict=True)
        ]
        ids: list[int] = []
        for start in range(0, len(message_rows), 1000):
            result = await session.execute(
                insert(CampaignMessage).returning(CampaignMessage.id), message_rows[start : start + 1000]
            )
            ids.extend(result.scalars().all())
        buckets = {"pending": 0, "sent": 0, "unknown": 0}
        for row in message_rows:
            buckets[{"claimed": "pending", "sending": "pending", "unknown": "unknown"}.get(row["status"], "sent")] += 1
        await counters.add(session, campaign_id=campaign_id, targeted=len(message_rows), **buckets)
        return ids


async def message_states(database: Database, campaign_ids: Iterable[int]) -> dict[int, tuple[Any, ...]]:
    async with database.read_session() as session:
        rows = (await session.execute(
            select(CampaignMessage).where(CampaignMessage.campaign_id.in_(list(campaign_ids)))
        )).scalars()
        return {m.id: tuple(getattr(m, f) for f in MESSAGE_FIELDS) for m in rows}


async def message(database: Database, message_id: int) -> CampaignMessage:
    async with database.read_session() as session:
        row = await session.get(CampaignMessage, message_id)
        assert row is not None
        return row


async def not_sent_reasons(database: Database, campaign_id: int) -> dict[str, int]:
    async with database.read_session() as session:
        rows = await session.execute(
            select(CampaignNotSentReason.reason, CampaignNotSentReason.count)
            .where(CampaignNotSentReason.campaign_id == campaign_id, CampaignNotSentReason.count != 0)
        )
        return dict(rows.all())


def status_body(statuses: list[dict[str, Any]], *, phone_number_id: str = NUMBER_1, waba_id: str = WABA_1) -> bytes:
    """One envelope, one change, these statuses."""
    return orjson.dumps({"object": "whatsapp_business_account", "entry": [{"id": waba_id, "changes": [{
        "field": "messages",
        "value": {"messaging_product": "whatsapp",
                  "metadata": {"display_phone_number": "551130000000", "phone_number_id": phone_number_id},
                  "statuses": statuses},
    }]}]})


def status(wamid: str, kind: str, at: datetime | int, *, callback: str | None = None, code: int | None = None,
           recipient: str = "5511988887777") -> dict[str, Any]:
    item: dict[str, Any] = {
        "id": wamid, "status": kind, "recipient_id": recipient,
        "timestamp": str(at if isinstance(at, int) else int(at.timestamp())),
    }
    if callback is not None:
        item["biz_opaque_callback_data"] = callback
    if kind == "failed":
        item["errors"] = [{"code": code or 131000, "title": "failure", "message": "failure",
                           "error_data": {"details": "failure"}}]
    else:
        item["pricing"] = {"billable": True, "pricing_model": "PMP", "type": "regular", "category": "marketing"}
    return item


async def settle(database: Database, *, timeout: float = 15) -> None:
    """Applies events until none is left unapplied, waiting out deferred ones (``not_before``)."""

    async def empty() -> bool:
        await drain(database)
        return await unapplied(database) == 0

    await wait_until(empty, timeout=timeout, every=0.2)
