"""The bot-delivery engine with an injected clock: back-off, order per contact, giving up after 24 h."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from herald.kit.db import Database
from herald.kit.types import utcnow
from herald.models import BotDelivery
from herald.replies.delivery import BotDeliveryEngine, backoff
from tests.conftest import LOOPBACK_ALLOWED, OrgHandle
from tests.factories import make_active_campaign, make_bot_flow, make_contacts, make_number
from tests.replies.helpers import BOT_SECRET, BotEndpoint


class FakeClock:
    """Real time plus an offset the test moves forward."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def __call__(self) -> datetime:
        return utcnow() + self.offset

    def advance(self, **kwargs: float) -> None:
        self.offset += timedelta(**kwargs)


@dataclass
class Deliveries:
    campaign_id: int
    contact_ids: list[int]

    async def enqueue(self, database: Database, org_id: int, bot_flow_id: int, contact_id: int, text: str) -> str:
        delivery_id = uuid.uuid4().hex
        async with database.session() as session:
            session.add(BotDelivery(
                org_id=org_id, bot_flow_id=bot_flow_id, campaign_id=self.campaign_id, contact_id=contact_id,
                delivery_id=delivery_id, body=f'{{"text": "{text}"}}', status="pending", attempts=0,
                next_attempt_at=utcnow(),
            ))
        return delivery_id


@pytest.fixture
async def flow(app: FastAPI, database: Database, org: OrgHandle, bot: BotEndpoint) -> tuple[int, Deliveries]:
    box = app.state.secret_box
    number = await make_number(database, box, org_id=org.id, base_url="http://127.0.0.1:9")
    bot_flow = await make_bot_flow(database, box, org_id=org.id, url=bot.url, secret=BOT_SECRET)
    ids = await make_contacts(database, org_id=org.id, specs=[{"phone": f"+1415555{3000 + i}"} for i in range(20)])
    campaign = await make_active_campaign(database, org_id=org.id, number_id=number, audience={"tags_any": ["x"]},
                                          variables={}, media_row_id=None, bot_flow_id=bot_flow)
    return bot_flow, Deliveries(campaign, ids)


async def rows(database: Database) -> dict[str, BotDelivery]:
    async with database.read_session() as session:
        return {r.delivery_id: r for r in (await session.execute(select(BotDelivery))).scalars()}


class TestBackoff:
    def test_doubles_from_one_second_and_caps_at_ten_minutes(self) -> None:
        assert [backoff(n).total_seconds() for n in (1, 2, 3, 4, 10, 11, 500)] == [1, 2, 4, 8, 512, 600, 600]


class TestBotDeliveryEngine:
    async def test_bot_down_for_an_hour_gets_the_delivery_once_when_back(
        self, app: FastAPI, database: Database, org: OrgHandle, bot: BotEndpoint, flow: tuple[int, Deliveries]
    ) -> None:
        bot_flow, deliveries = flow
        delivery = await deliveries.enqueue(database, org.id, bot_flow, deliveries.contact_ids[0], "hi")
        clock = FakeClock()
        engine = BotDeliveryEngine(database=database, box=app.state.secret_box, outbound=LOOPBACK_ALLOWED, now=clock)
        bot.failing = True
        assert await engine.deliver_due() == 1
        assert await engine.deliver_due() == 0  # backing off: not due for a second
        first = (await rows(database))[delivery]
        assert first.status == "pending" and first.attempts == 1 and "HTTP 503" in (first.last_error or "")
        clock.advance(minutes=30)
        assert await engine.deliver_due() == 1
        clock.advance(minutes=30)
        bot.failing = False
        assert await engine.deliver_due() == 1

        done = (await rows(database))[delivery]
        assert (done.status, done.attempts) == ("delivered", 3) and done.delivered_at is not None
        assert [r.delivery_id for r in bot.accepted] == [delivery] and bot.attempts[delivery] == 3
        assert bot.duplicates == 0 and bot.bad_signatures == 0
        assert await engine.deliver_due() == 0

    async def test_gives_up_after_24_hours_and_lists_the_failure(
        self, app: FastAPI, client: httpx.AsyncClient, database: Database, org: OrgHandle, bot: BotEndpoint,
        flow: tuple[int, Deliveries],
    ) -> None:
        bot_flow, deliveries = flow
        delivery = await deliveries.enqueue(database, org.id, bot_flow, deliveries.contact_ids[0], "hi")
        clock = FakeClock()
        engine = BotDeliveryEngine(database=database, box=app.state.secret_box, outbound=LOOPBACK_ALLOWED, now=clock)
        bot.failing = True
        await engine.deliver_due()
        clock.advance(hours=23, minutes=59)
        await engine.deliver_due()
        assert (await rows(database))[delivery].status == "pending"  # still within its 24 hours
        clock.advance(minutes=2)
        await engine.deliver_due()

        failed = (await rows(database))[delivery]
        assert (failed.status, failed.attempts) == ("failed", 3)
        assert failed.last_error == "the bot flow answered HTTP 503"  # not the bot's body: viewers read this
        clock.advance(hours=1)
        assert await engine.deliver_due() == 0
        listed = (await client.get("/api/v1/bot-deliveries", params={"status": "failed"}, headers=org.auth)).json()
        assert [(d["delivery_id"], d["status"], d["last_error"]) for d in listed["items"]] == [
            (delivery, "failed", "the bot flow answered HTTP 503")]
        by_campaign = await client.get("/api/v1/bot-deliveries", headers=org.auth,
                                       params={"campaign_id": deliveries.campaign_id})
        assert [d["campaign_id"] for d in by_campaign.json()["items"]] == [deliveries.campaign_id]
        assert (await client.get("/api/v1/bot-deliveries", params={"status": "delivered"},
                                 headers=org.auth)).json()["items"] == []

    async def test_a_later_delivery_of_a_contact_waits_behind_the_earlier_one(
        self, app: FastAPI, database: Database, org: OrgHandle, bot: BotEndpoint, flow: tuple[int, Deliveries]
    ) -> None:
        bot_flow, deliveries = flow
        a, b = deliveries.contact_ids[:2]
        first = await deliveries.enqueue(database, org.id, bot_flow, a, "first")
        second = await deliveries.enqueue(database, org.id, bot_flow, a, "second")
        other = await deliveries.enqueue(database, org.id, bot_flow, b, "other")
        clock = FakeClock()
        engine = BotDeliveryEngine(database=database, box=app.state.secret_box, outbound=LOOPBACK_ALLOWED, now=clock)
        bot.fail_ids = {first}
        assert await engine.deliver_due() == 2  # the first of a, and b's: a's second waits
        assert bot.attempts[second] == 0 and [r.delivery_id for r in bot.accepted] == [other]
        clock.advance(seconds=5)
        bot.fail_ids = set()
        await engine.deliver_due()
        await engine.deliver_due()

        assert [r.delivery_id for r in bot.accepted] == [other, first, second]
        assert {d: r.status for d, r in (await rows(database)).items()} == dict.fromkeys((first, second, other),
                                                                                          "delivered")

    async def test_an_unreachable_bot_is_retried_with_the_reason(
        self, app: FastAPI, database: Database, org: OrgHandle, bot: BotEndpoint, flow: tuple[int, Deliveries]
    ) -> None:
        bot_flow, deliveries = flow
        delivery = await deliveries.enqueue(database, org.id, bot_flow, deliveries.contact_ids[0], "hi")
        clock = FakeClock()
        engine = BotDeliveryEngine(database=database, box=app.state.secret_box, outbound=LOOPBACK_ALLOWED, now=clock)
        await bot.stop()
        await engine.deliver_due()
        waiting = (await rows(database))[delivery]
        assert waiting.status == "pending" and (waiting.last_error or "").startswith("could not reach the bot flow")
        await bot.start()
        clock.advance(seconds=2)
        await engine.deliver_due()
        assert (await rows(database))[delivery].status == "delivered"
        assert [r.delivery_id for r in bot.accepted] == [delivery]

    async def test_two_engines_deliver_many_contacts_each_exactly_once(
        self, app: FastAPI, database: Database, org: OrgHandle, bot: BotEndpoint, flow: tuple[int, Deliveries]
    ) -> None:
        bot_flow, deliveries = flow
        sent = [await deliveries.enqueue(database, org.id, bot_flow, c, f"m{i}")
                for i, c in enumerate(deliveries.contact_ids)]
        stop = asyncio.Event()
        engines = [BotDeliveryEngine(database=database, box=app.state.secret_box, outbound=LOOPBACK_ALLOWED, concurrency=4) for _ in range(2)]
        tasks = [asyncio.create_task(e.run(stop)) for e in engines]
        try:
            for _ in range(200):
                if len(bot.accepted) == len(sent):
                    break
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.3)
        finally:
            stop.set()
            await asyncio.gather(*tasks)

        assert sorted(r.delivery_id for r in bot.accepted) == sorted(sent)
        assert bot.duplicates == 0 and sum(bot.attempts.values()) == len(sent)
        assert {r.status for r in (await rows(database)).values()} == {"delivered"}
