"""Users reply in the simulator; a live Herald attributes the replies and forwards them to a real bot endpoint."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import delete, select

from herald.kit.db import Database
from herald.models import BotDelivery, Engagement, InboundMessage, WebhookEvent
from herald.simulator import SimulatorServer
from tests.conftest import OrgHandle
from tests.dispatch.helpers import messages, running_worker, stats, wait_until
from tests.replies.helpers import PHONE_NUMBER_ID, BotEndpoint, CampaignSetup, vip_campaign

pytestmark = [pytest.mark.server, pytest.mark.slow]


async def user_writes(sim: SimulatorServer, phone: str, **content: Any) -> str:
    async with httpx.AsyncClient() as http:
        answer = await http.post(f"{sim.base_url}/_sim/inbound",
                                 json={"phone_number_id": PHONE_NUMBER_ID, "from": phone, **content})
        answer.raise_for_status()
        return str(answer.json()["id"])


async def all_received(database: Database, setup: CampaignSetup, count: int) -> None:
    async def received() -> bool:
        return (await stats(database, setup.campaign_id))["received"] == count

    await wait_until(received, timeout=30)


async def inbound(database: Database, wamid: str) -> InboundMessage | None:
    async with database.read_session() as session:
        return (await session.execute(select(InboundMessage).where(InboundMessage.wamid == wamid))).scalar_one_or_none()


async def outcome_of(database: Database, wamid: str) -> str | None:
    async with database.read_session() as session:
        return (await session.execute(
            select(WebhookEvent.outcome).where(WebhookEvent.dedupe_key == f"m:{wamid}")
        )).scalar_one_or_none()


class TestRepliesReachTheBot:
    async def test_reply_of_an_engaged_contact_is_signed_and_carries_the_campaign(
        self, app: FastAPI, database: Database, org: OrgHandle, sim: SimulatorServer, bot: BotEndpoint
    ) -> None:
        box = app.state.secret_box
        setup = await vip_campaign(database, box, org_id=org.id, sim_url=sim.base_url, bot_url=bot.url)
        async with running_worker(database, box):
            await all_received(database, setup, 3)
            wamid = await user_writes(sim, setup.phones[0], text="Tell me more")
            await wait_until(lambda: _true(len(bot.accepted) == 1), timeout=20)

        received = bot.accepted[0]
        assert bot.bad_signatures == 0 and bot.duplicates == 0
        document = received.document
        assert set(document) == {"type", "campaign", "contact", "message", "whatsapp"}
        assert document["type"] == "campaign.reply"
        # the message object as the simulator (Meta) sent it, beside Herald's fields
        assert (document["whatsapp"]["id"], document["whatsapp"]["text"]) == (wamid, {"body": "Tell me more"})
        assert document["campaign"] == {"id": setup.campaign_id, "name": "Spring", "kind": "real",
                                        "template": {"name": "promo", "language": "en_US"}}
        assert document["contact"] == {"id": setup.contact_ids[0], "phone": setup.phones[0], "wa_user_id": None,
                                       "name": "Vip 0", "tags": ["vip"], "valued_tags": {"customer_id": "100"}}
        message = document["message"]
        assert (message["id"], message["type"], message["text"]) == (wamid, "text", "Tell me more")
        assert message["timestamp"].endswith("Z") and "context_id" not in message
        row = (await messages(database, setup.campaign_id))[setup.contact_ids[0]]
        assert row.replied_at is not None and row.status in ("delivered", "read")
        counts = await stats(database, setup.campaign_id)
        assert (counts["replied"], counts["received"], counts["sent"]) == (1, 3, 3)
        stored = await inbound(database, wamid)
        assert stored is not None and (stored.contact_id, stored.campaign_id) == (setup.contact_ids[0], setup.campaign_id)

    async def test_quick_reply_with_context_of_a_non_engaged_contact_goes_to_that_campaign(
        self, app: FastAPI, database: Database, org: OrgHandle, sim: SimulatorServer, bot: BotEndpoint
    ) -> None:
        box = app.state.secret_box
        setup = await vip_campaign(database, box, org_id=org.id, sim_url=sim.base_url, bot_url=bot.url)
        async with running_worker(database, box):
            await all_received(database, setup, 3)
            sent = (await messages(database, setup.campaign_id))[setup.contact_ids[1]]
            async with database.session() as session:
                await session.execute(delete(Engagement).where(Engagement.contact_id == setup.contact_ids[1]))
            wamid = await user_writes(sim, setup.phones[1], button_payload="Stop", context_id=sent.wamid)
            await wait_until(lambda: _true(len(bot.accepted) == 1), timeout=20)

        message = bot.accepted[0].document["message"]
        assert message["type"] == "button" and message["button"] == {"payload": "Stop", "text": "Stop"}
        assert message["context_id"] == sent.wamid and message["id"] == wamid
        assert bot.accepted[0].document["campaign"]["id"] == setup.campaign_id
        assert (await stats(database, setup.campaign_id))["replied"] == 1

    async def test_message_without_context_from_a_non_engaged_contact_is_stored_not_forwarded(
        self, app: FastAPI, database: Database, org: OrgHandle, sim: SimulatorServer, bot: BotEndpoint
    ) -> None:
        box = app.state.secret_box
        outsider = "+14155559000"
        setup = await vip_campaign(database, box, org_id=org.id, sim_url=sim.base_url, bot_url=bot.url,
                                   extra=[{"phone": outsider, "name": "Outsider", "tags": ["other"]}])
        async with running_worker(database, box):
            await all_received(database, setup, 3)
            known = await user_writes(sim, outsider, text="hello?")
            stranger = await user_writes(sim, "+14155559999", text="who is this?")
            await wait_until(lambda: _both_applied(database, known, stranger), timeout=20)
            await asyncio.sleep(0.5)  # the delivery loop polls several times a second: nothing must go

        assert bot.accepted == [] and sum(bot.attempts.values()) == 0
        row = await inbound(database, known)
        assert row is not None and row.contact_id == setup.contact_ids[-1] and row.campaign_id is None
        assert row.text == "hello?" and row.type == "text"
        unknown = await inbound(database, stranger)
        assert unknown is not None and unknown.contact_id is None and unknown.from_wa_id == "14155559999"
        assert (await outcome_of(database, known), await outcome_of(database, stranger)) == ("stored", "unknown_sender")
        async with database.read_session() as session:
            assert (await session.execute(select(BotDelivery))).first() is None
        assert (await stats(database, setup.campaign_id))["replied"] == 0


class TestBotDown:
    async def test_every_reply_arrives_once_and_in_order_per_contact_after_the_bot_comes_back(
        self, app: FastAPI, database: Database, org: OrgHandle, sim: SimulatorServer, bot: BotEndpoint
    ) -> None:
        box = app.state.secret_box
        setup = await vip_campaign(database, box, org_id=org.id, sim_url=sim.base_url, bot_url=bot.url, count=3)
        bot.failing = True
        async with running_worker(database, box):
            await all_received(database, setup, 3)
            first = await user_writes(sim, setup.phones[0], text="first")
            # Meta's timestamps have one-second resolution and its POSTs may race: the order Herald
            # keeps is the order it learns of messages, so the user writes again once it knows the first.
            await wait_until(lambda: _both_applied(database, first), timeout=20)
            await user_writes(sim, setup.phones[0], text="second")
            await user_writes(sim, setup.phones[1], text="hello")
            await user_writes(sim, setup.phones[2], text="hi")
            await wait_until(lambda: _true(len(bot.attempts) >= 2), timeout=20)
            await asyncio.sleep(1.5)  # answered 503 for a while, with retries
            await bot.stop()  # then not even listening
            await asyncio.sleep(1.5)
            bot.failing = False
            await bot.start()
            await wait_until(lambda: _true(len(bot.accepted) == 4), timeout=30)
            await asyncio.sleep(0.5)

        assert bot.duplicates == 0 and bot.bad_signatures == 0
        assert len({r.delivery_id for r in bot.accepted}) == 4
        assert bot.texts_from(setup.phones[0]) == ["first", "second"]
        assert max(bot.attempts.values()) > 1  # some deliveries were retried, with the same delivery id
        async with database.read_session() as session:
            rows = (await session.execute(select(BotDelivery).order_by(BotDelivery.id))).scalars().all()
        assert [r.status for r in rows] == ["delivered"] * 4
        assert {r.delivery_id for r in rows} == {r.delivery_id for r in bot.accepted}
        assert (await stats(database, setup.campaign_id))["replied"] == 3


async def _true(value: bool) -> bool:
    return value


async def _both_applied(database: Database, *wamids: str) -> bool:
    return all([await outcome_of(database, w) for w in wamids])

