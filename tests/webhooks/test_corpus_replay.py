"""Real-shaped webhooks replayed through `/webhooks/whatsapp`: each file of tests/webhooks/corpus is
posted signed, as Meta would, into an organization with one campaign message that was sent, and must
be answered 200, stored once (posting it again stores nothing), applied without error, and end as its
``expect`` says. The files are built from public sources (each names its own in ``source``): Meta's
webhook reference examples and pywa's fixtures (tests/data/updates); README.md describes them.

A kind whose handling is not built yet can be listed in PENDING_KINDS: its end-state test is then
expected to fail. The set is empty: every kind of the corpus is asserted.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from fastapi import FastAPI
from sqlalchemy import select, update

from herald.campaigns import counters
from herald.kit.db import Database
from herald.models import (
    BotDelivery,
    Campaign,
    CampaignMessage,
    Contact,
    InboundMessage,
    NumberEvent,
    Template,
    WebhookEvent,
    WhatsAppNumber,
)
from tests.conftest import OrgHandle
from tests.dispatch.helpers import stats
from tests.factories import engage, make_bot_flow, make_contact, make_number, make_template
from tests.webhooks.helpers import event_count, make_campaign, post_signed, settle, unapplied

# Kinds whose expected end state other work of issue 20 delivers; until it is merged their end-state
# test is an expected failure (not strict: it reports XPASS as soon as it holds). The one switch.
PENDING_KINDS: frozenset[str] = frozenset()

CORPUS = Path(__file__).parent / "corpus"
FILES = sorted(p.name for p in CORPUS.glob("*.json"))
APP_SECRET = "replay-app-secret"
# The ids every file uses: Meta's reference examples' WABA, number and display number.
WABA, PHONE_NUMBER_ID = "102290129340398", "106540352242922"
USER_PHONE = "+16505551234"
SENT_WAMID = "wamid.HBgLMTY1MDU1NTEyMzQVAgARGBI5QTNDQTVCM0Q0Q0Q2RTY3RTcA"
SENT_AT = datetime(2025, 12, 31, 23, 59, tzinfo=UTC)  # before every event of the corpus
CAMPAIGN_TEMPLATE, OTHER_TEMPLATE = "spring_sale", "order_update"
STATUS_AS_STORED = {"played": "read"}


def load(name: str) -> tuple[dict[str, Any], bytes]:
    """The file's ``expect`` and the body Meta would POST (the file without ``source`` and ``expect``)."""
    document = json.loads((CORPUS / name).read_text())
    assert document.pop("source"), f"{name} names no source"
    expect = document.pop("expect")
    return expect, orjson.dumps(document)


@dataclass
class World:
    database: Database
    client: httpx.AsyncClient
    number_id: int
    contact_id: int
    campaign_id: int
    message_id: int


@pytest.fixture
async def world(app: FastAPI, database: Database, org: OrgHandle, client: httpx.AsyncClient) -> World:
    """A number, a contact engaged in an active campaign with a bot flow, and the message it was sent."""
    number_id = await make_number(database, app.state.secret_box, org_id=org.id, phone_number_id=PHONE_NUMBER_ID,
                                  waba_id=WABA, app_secret=APP_SECRET)
    await make_template(database, org_id=org.id, waba_id=WABA, name=CAMPAIGN_TEMPLATE, language="en_US")
    other = await make_template(database, org_id=org.id, waba_id=WABA, name=OTHER_TEMPLATE, language="en_US")
    contact_id = await make_contact(database, org_id=org.id, phone=USER_PHONE, name="Lucia Ferreira")
    bot_flow_id = await make_bot_flow(database, app.state.secret_box, org_id=org.id)
    campaign_id = await make_campaign(database, org_id=org.id, number_id=number_id, name="Spring")
    async with database.session() as session:
        # The display number the corpus's number-level payloads name (Meta's examples use it).
        await session.execute(update(WhatsAppNumber).where(WhatsAppNumber.id == number_id)
                              .values(display_phone_number="+1 555-078-3881"))
        await session.execute(update(Campaign).where(Campaign.id == campaign_id)
                              .values(bot_flow_id=bot_flow_id, template_name=CAMPAIGN_TEMPLATE))
        await session.execute(update(Template).where(Template.id == other).values(category="UTILITY"))
        message = CampaignMessage(campaign_id=campaign_id, contact_id=contact_id, attempts=1, status="sent",
                                  wamid=SENT_WAMID, sent_at=SENT_AT)
        session.add(message)
        await session.flush()
        message_id = message.id
        await counters.add(session, campaign_id=campaign_id, targeted=1, sent=1)
    await engage(database, contact_id=contact_id, campaign_id=campaign_id)
    return World(database, client, number_id, contact_id, campaign_id, message_id)


async def replay(world: World, name: str) -> dict[str, Any]:
    expect, raw = load(name)
    given = expect.get("given", {})  # the state before the webhook, when the file needs another one
    async with world.database.session() as session:
        if given.get("opted_out"):
            await session.execute(update(Contact).where(Contact.id == world.contact_id).values(opted_out_at=SENT_AT))
        if given.get("message_status") == "unknown":  # the send's answer was lost (a timeout)
            await session.execute(update(CampaignMessage).where(CampaignMessage.id == world.message_id)
                                  .values(status="unknown", sent_at=None))
            await counters.add(session, campaign_id=world.campaign_id, sent=-1, unknown=1)
        if "template_status" in given:
            await session.execute(update(Template).where(Template.name == CAMPAIGN_TEMPLATE)
                                  .values(status=given["template_status"], usable=False))
    response = await post_signed(world.client, raw, APP_SECRET)
    assert response.status_code == 200, response.text
    await settle(world.database)
    return expect


def test_every_file_names_its_source_and_expected_end_state() -> None:
    assert len(FILES) >= 30
    for name in FILES:
        document = json.loads((CORPUS / name).read_text())
        assert isinstance(document["source"], str) and len(document["source"]) > 10, name
        assert document["expect"]["kind"], name
        assert document["object"] == "whatsapp_business_account" and document["entry"], name


@pytest.mark.parametrize("name", FILES)
async def test_received_stored_once_and_applied(world: World, name: str) -> None:
    await replay(world, name)
    stored = await event_count(world.database)
    response = await post_signed(world.client, load(name)[1], APP_SECRET)  # Meta's retry of the same POST
    assert response.status_code == 200
    await settle(world.database)
    assert await event_count(world.database) == stored
    assert await unapplied(world.database) == 0
    async with world.database.read_session() as session:
        outcomes = set((await session.execute(select(WebhookEvent.outcome))).scalars())
    assert None not in outcomes and "unknown_number" not in outcomes


def _end_state_params() -> list[Any]:
    params = []
    for name in FILES:
        kind = load(name)[0]["kind"]
        marks = [pytest.mark.xfail(reason=f"'{kind}' handling arrives with issue 20's other work (PENDING_KINDS)",
                                   strict=False)] if kind in PENDING_KINDS else []
        params.append(pytest.param(name, marks=marks, id=name.removesuffix(".json")))
    return params


@pytest.mark.parametrize("name", _end_state_params())
async def test_end_state(world: World, name: str) -> None:
    expect = await replay(world, name)
    check = END_STATES[expect["kind"]]
    await check(world, expect, name)


async def _campaign_message(world: World) -> CampaignMessage:
    async with world.database.read_session() as session:
        row = await session.get(CampaignMessage, world.message_id)
        assert row is not None
        return row


async def _bot_bodies(world: World) -> list[dict[str, Any]]:
    async with world.database.read_session() as session:
        bodies = (await session.execute(select(BotDelivery.body).where(BotDelivery.campaign_id == world.campaign_id)))
        return [json.loads(body) for body in bodies.scalars()]


async def _status(world: World, expect: dict[str, Any], name: str) -> None:
    row = await _campaign_message(world)
    assert row.status == STATUS_AS_STORED.get(expect["message_status"], expect["message_status"])
    if "error_code" in expect:
        assert row.error_code == expect["error_code"]


async def _message(world: World, expect: dict[str, Any], name: str) -> None:
    """A reply: the campaign message is replied, counted, and the bot receives the message; anything
    else is recorded on the contact but is neither counted nor forwarded as a reply."""
    _, raw = load(name)
    items = [m for e in orjson.loads(raw)["entry"] for c in e["changes"] for m in c["value"].get("messages", [])]
    row = await _campaign_message(world)
    replies = [b for b in await _bot_bodies(world) if b.get("type") == "campaign.reply"]
    counted = (await stats(world.database, world.campaign_id))["replied"]
    if not items:  # a value carrying only errors: kept (issue 20, item 3), never a reply
        assert row.replied_at is None and counted == 0 and replies == []
        assert await event_count(world.database) >= 1
        return
    [item] = items
    async with world.database.read_session() as session:
        stored = (await session.execute(select(InboundMessage).where(InboundMessage.wamid == item["id"]))).scalars().all()
    assert len(stored) == 1 and stored[0].type == item["type"]
    if expect["reply"]:
        assert row.replied_at is not None and counted == 1
        [body] = replies
        assert body["message"]["id"] == item["id"] and body["message"]["type"] == item["type"]
    else:
        assert row.replied_at is None and counted == 0 and replies == []
        assert stored[0].contact_id == world.contact_id
    if "contact_phone" in expect:
        async with world.database.read_session() as session:
            contact = await session.get(Contact, world.contact_id)
        assert contact is not None and contact.phone == expect["contact_phone"]


async def _preferences(world: World, expect: dict[str, Any], name: str) -> None:
    async with world.database.read_session() as session:
        contact = await session.get(Contact, world.contact_id)
    assert contact is not None and (contact.opted_out_at is not None) == expect["opted_out"]


async def _template(world: World, name: str) -> Template:
    async with world.database.read_session() as session:
        return (await session.execute(select(Template).where(Template.name == name))).scalar_one()


async def _template_status(world: World, expect: dict[str, Any], name: str) -> None:
    assert (await _template(world, CAMPAIGN_TEMPLATE)).status == expect["template_status"]
    if "campaign_status" in expect:
        async with world.database.read_session() as session:
            campaign = await session.get(Campaign, world.campaign_id)
        assert campaign is not None and campaign.status == expect["campaign_status"]


async def _template_quality(world: World, expect: dict[str, Any], name: str) -> None:
    assert (await _template(world, CAMPAIGN_TEMPLATE)).quality_score == expect["quality"]


async def _template_category(world: World, expect: dict[str, Any], name: str) -> None:
    assert (await _template(world, OTHER_TEMPLATE)).category == expect["category"]


async def _number_quality(world: World, expect: dict[str, Any], name: str) -> None:
    async with world.database.read_session() as session:
        number = await session.get(WhatsAppNumber, world.number_id)
    assert number is not None and number.messaging_limit_tier == expect["messaging_limit_tier"]


async def _account_update(world: World, expect: dict[str, Any], name: str) -> None:
    """Recorded on the number it names, with Meta's event name (shown on the number's page)."""
    async with world.database.read_session() as session:
        events = (await session.execute(
            select(NumberEvent.event).where(NumberEvent.whatsapp_number_id == world.number_id)
        )).scalars().all()
    assert events == [expect["event"]]


END_STATES = {
    "status": _status,
    "message": _message,
    "user_preferences": _preferences,
    "system": _message,
    "unreaction": _message,
    "revoke": _message,
    "edit": _message,
    "errors": _message,
    "template_status": _template_status,
    "template_quality": _template_quality,
    "template_category": _template_category,
    "number_quality": _number_quality,
    "account_update": _account_update,
}
