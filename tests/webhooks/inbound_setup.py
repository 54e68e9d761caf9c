"""Alice, a campaign that sent her ``wamid.out.1``, a real bot endpoint, and Meta-shaped payloads
from ``payloads/inbound/`` posted signed to ``/webhooks/whatsapp`` and applied.

Each payload file names its source in a top-level ``source`` field, stripped before sending.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
from fastapi import FastAPI
from sqlalchemy import select, update

from herald.campaigns import counters
from herald.dispatch.materialize import materialize_job
from herald.kit.db import Database
from herald.models import CampaignMessage, Contact, ContactEvent, InboundMessage, WebhookEvent
from herald.replies.delivery import BotDeliveryEngine
from tests.conftest import LOOPBACK_ALLOWED
from tests.factories import make_active_campaign, make_bot_flow, make_contacts, make_number
from tests.replies.helpers import BOT_SECRET, BotEndpoint
from tests.webhooks.helpers import drain, post_signed

PAYLOADS = Path(__file__).parent / "payloads" / "inbound"
APP_SECRET = "sim-secret"  # tests.factories.make_number's
ALICE, BOB = "+14155557001", "+14155557002"
SENT_AT = datetime.fromtimestamp(1796400000, tz=UTC)  # before every payload's timestamp


@asynccontextmanager
async def running_bot() -> AsyncIterator[BotEndpoint]:
    endpoint = BotEndpoint()
    await endpoint.start()
    try:
        yield endpoint
    finally:
        await endpoint.stop()


def payload(name: str) -> bytes:
    document = orjson.loads((PAYLOADS / name).read_bytes())
    assert isinstance(document.pop("source"), str)
    return orjson.dumps(document)


@dataclass
class Setup:
    org_id: int
    number_id: int
    campaign_id: int
    alice: int
    bob: int


async def alice_campaign(app: FastAPI, database: Database, org_id: int, bot: BotEndpoint | None = None,
                         *, alice_user_id: str | None = None) -> Setup:
    """An active campaign whose message to Alice went out as ``wamid.out.1``; Bob is a contact outside it."""
    box = app.state.secret_box
    number = await make_number(database, box, org_id=org_id, base_url="http://127.0.0.1:9")
    bot_flow = await make_bot_flow(database, box, org_id=org_id, secret=BOT_SECRET,
                                   **({"url": bot.url} if bot is not None else {}))
    alice, bob = await make_contacts(database, org_id=org_id, specs=[
        {"phone": ALICE, "name": "Alice", "tags": ["vip"], "valued_tags": {"customer_id": "8812"}},
        {"phone": BOB, "name": "Bob", "tags": ["other"]},
    ])
    if alice_user_id is not None:
        async with database.session() as session:
            await session.execute(update(Contact).where(Contact.id == alice).values(wa_user_id=alice_user_id))
    campaign_id = await make_active_campaign(database, org_id=org_id, number_id=number, audience={"tags_any": ["vip"]},
                                             variables={}, media_row_id=None, bot_flow_id=bot_flow)
    await materialize_job(database, {"campaign_id": campaign_id})
    async with database.session() as session:
        await session.execute(update(CampaignMessage).where(CampaignMessage.campaign_id == campaign_id)
                              .values(status="sent", wamid="wamid.out.1", sent_at=SENT_AT))
        await counters.add(session, campaign_id=campaign_id, pending=-1, sent=1)
    return Setup(org_id, number, campaign_id, alice, bob)


async def receive(client: httpx.AsyncClient, database: Database, *names: str) -> None:
    """Posts each payload as Meta would, then applies everything stored."""
    for name in names:
        answer = await post_signed(client, payload(name), APP_SECRET)
        assert answer.status_code == 200, answer.text
    await drain(database)


async def deliver(app: FastAPI, database: Database) -> None:
    engine = BotDeliveryEngine(database=database, box=app.state.secret_box, outbound=LOOPBACK_ALLOWED)
    while await engine.deliver_due():
        pass


async def campaign_message(database: Database, campaign_id: int) -> CampaignMessage:
    async with database.read_session() as session:
        return (await session.execute(
            select(CampaignMessage).where(CampaignMessage.campaign_id == campaign_id)
        )).scalar_one()


async def contact(database: Database, contact_id: int) -> Contact:
    async with database.read_session() as session:
        found = await session.get(Contact, contact_id)
        assert found is not None
        return found


async def contact_events(database: Database, contact_id: int) -> list[tuple[str, dict[str, Any]]]:
    async with database.read_session() as session:
        rows = await session.execute(select(ContactEvent.kind, ContactEvent.detail)
                                     .where(ContactEvent.contact_id == contact_id).order_by(ContactEvent.id))
        return [(k, d) for k, d in rows.all()]


async def inbound_rows(database: Database) -> dict[str, InboundMessage]:
    async with database.read_session() as session:
        return {m.wamid: m for m in (await session.execute(select(InboundMessage))).scalars()}


async def outcomes(database: Database) -> dict[str, str | None]:
    async with database.read_session() as session:
        return dict((await session.execute(select(WebhookEvent.dedupe_key, WebhookEvent.outcome))).all())
