"""The inbound-message handler on stored webhook events: deferral, proof of delivery, BSUID senders."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import timedelta

import orjson
import pytest
from fastapi import FastAPI
from sqlalchemy import select, update

from herald.campaigns import counters
from herald.dispatch.materialize import materialize_job
from herald.kit.db import Database
from herald.kit.types import utcnow
from herald.models import BotDelivery, CampaignMessage, Contact, InboundMessage, WebhookEvent
from herald.webhooks import applier, events
from herald.whatsapp import InboundMessage as Inbound
from tests.conftest import OrgHandle
from tests.dispatch.helpers import stats
from tests.factories import make_active_campaign, make_bot_flow, make_contacts, make_number
from tests.replies.helpers import PHONE_NUMBER_ID

ALICE = "+14155557001"


def reply(*, wa_id: str | None = ALICE[1:], user_id: str | None = None, context_id: str | None = None,
          text: str = "hi") -> Inbound:
    return Inbound(
        phone_number_id=PHONE_NUMBER_ID, wamid=f"wamid.in.{uuid.uuid4().hex[:8]}", from_wa_id=wa_id,
        from_user_id=user_id, profile_name="Alice", timestamp=utcnow().replace(microsecond=0), type="text", text=text,
        button_payload=None, button_text=None, interactive_id=None, interactive_title=None, context_id=context_id,
        context_from=None,
    )


async def store(database: Database, org_id: int, message: Inbound) -> None:
    async with database.session() as session:
        session.add(WebhookEvent(
            dedupe_key=events.dedupe_key(events.MESSAGE, message), kind=events.MESSAGE, org_id=org_id,
            phone_number_id=PHONE_NUMBER_ID, payload=events.to_payload(message), event_at=message.timestamp,
        ))


async def set_message(database: Database, campaign_id: int, **values: object) -> None:
    async with database.session() as session:
        await session.execute(update(CampaignMessage).where(CampaignMessage.campaign_id == campaign_id).values(**values))


async def all_rows(database: Database, model: type) -> list:  # type: ignore[type-arg]
    async with database.read_session() as session:
        return list((await session.execute(select(model))).scalars())


@pytest.fixture
async def campaign(app: FastAPI, database: Database, org: OrgHandle) -> tuple[int, int]:
    """A campaign whose one message to Alice has been sent (wamid.out.1); no worker runs."""
    box = app.state.secret_box
    number = await make_number(database, box, org_id=org.id, base_url="http://127.0.0.1:9")
    bot = await make_bot_flow(database, box, org_id=org.id)
    [alice] = await make_contacts(database, org_id=org.id, specs=[{"phone": ALICE, "tags": ["vip"]}])
    campaign_id = await make_active_campaign(database, org_id=org.id, number_id=number, audience={"tags_any": ["vip"]},
                                             variables={}, media_row_id=None, bot_flow_id=bot)
    await materialize_job(database, {"campaign_id": campaign_id})
    await set_message(database, campaign_id, status="sent", wamid="wamid.out.1", sent_at=utcnow() - timedelta(minutes=1))
    async with database.session() as session:
        await counters.add(session, campaign_id=campaign_id, pending=-1, sent=1)
    return campaign_id, alice


class TestInboundHandler:
    async def test_a_reply_to_a_message_still_sending_waits_then_goes(
        self, database: Database, org: OrgHandle, campaign: tuple[int, int]
    ) -> None:
        campaign_id, _ = campaign
        await set_message(database, campaign_id, status="sending")
        await store(database, org.id, reply())
        await applier.apply_round(database)
        [event] = await all_rows(database, WebhookEvent)
        assert event.applied_at is None and event.not_before is not None
        assert await all_rows(database, BotDelivery) == [] and await all_rows(database, InboundMessage) == []

        await set_message(database, campaign_id, status="sent")
        async with database.session() as session:
            await session.execute(update(WebhookEvent).values(not_before=None))
        await applier.apply_round(database)
        [event] = await all_rows(database, WebhookEvent)
        assert event.outcome == "forwarded"
        assert len(await all_rows(database, BotDelivery)) == 1
        counts = await stats(database, campaign_id)
        assert (counts["sent"], counts["received"], counts["replied"]) == (1, 1, 1)

    async def test_a_reply_proves_an_unknown_message_was_delivered(
        self, database: Database, org: OrgHandle, campaign: tuple[int, int]
    ) -> None:
        campaign_id, _ = campaign
        await set_message(database, campaign_id, status="unknown")
        async with database.session() as session:
                await counters.add(session, campaign_id=campaign_id, sent=-1, unknown=1)
        await store(database, org.id, reply())
        await applier.apply_round(database)
        [message] = await all_rows(database, CampaignMessage)
        assert message.status == "delivered" and message.replied_at is not None
        counts = await stats(database, campaign_id)
        assert (counts["unknown"], counts["sent"], counts["received"], counts["replied"]) == (0, 1, 1, 1)

    async def test_two_replies_keep_the_first_reply_time_and_are_forwarded_in_order(
        self, database: Database, org: OrgHandle, campaign: tuple[int, int]
    ) -> None:
        campaign_id, _ = campaign
        first = reply(text="one")
        second = replace(reply(text="two"), timestamp=first.timestamp + timedelta(seconds=5))
        await store(database, org.id, second)
        await store(database, org.id, first)
        await applier.apply_round(database)
        [message] = await all_rows(database, CampaignMessage)
        assert message.replied_at == first.timestamp
        deliveries = sorted(await all_rows(database, BotDelivery), key=lambda d: d.id)
        assert [orjson.loads(d.body)["message"]["text"] for d in deliveries] == ["one", "two"]
        assert (await stats(database, campaign_id))["replied"] == 1

    async def test_a_username_only_sender_replying_to_our_message_is_that_contact_from_then_on(
        self, database: Database, org: OrgHandle, campaign: tuple[int, int]
    ) -> None:
        campaign_id, alice = campaign
        await store(database, org.id, reply(wa_id=None, user_id="US.alice", context_id="wamid.out.1"))
        await applier.apply_round(database)
        async with database.session() as session:
            await session.execute(update(CampaignMessage).values(replied_at=None))
        await store(database, org.id, reply(wa_id=None, user_id="US.alice", text="again"))
        await applier.apply_round(database)

        stored = sorted(await all_rows(database, InboundMessage), key=lambda m: m.id)
        assert [(m.contact_id, m.campaign_id) for m in stored] == [(alice, campaign_id)] * 2
        [contact] = await all_rows(database, Contact)
        assert contact.wa_user_id == "US.alice"
        assert len(await all_rows(database, BotDelivery)) == 2

