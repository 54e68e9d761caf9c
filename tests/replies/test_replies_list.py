"""``GET /replies`` and ``GET /campaigns/{id}/replies``: every inbound message newest first, searchable,
by contact, with where it went: the bot delivery (status, attempts, last error) or why no bot got it."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import orjson
from alembic import command
from fastapi import FastAPI
from sqlalchemy import select, update

from herald.kit import migrate
from herald.kit.db import Database
from herald.models import BotDelivery, Campaign, InboundMessage
from tests.conftest import OrgHandle
from tests.webhooks.helpers import drain, post_signed
from tests.webhooks.inbound_setup import (
    APP_SECRET,
    BOB,
    alice_campaign,
    deliver,
    payload,
    receive,
    running_bot,
)

API = "/api/v1"


async def bob_writes(client: httpx.AsyncClient, database: Database, text: str, wamid: str = "wamid.in.bob") -> None:
    """Bob, a contact outside every campaign, writes to the number on his own (no reply context)."""
    document = orjson.loads(payload("text_reply.json"))
    value = document["entry"][0]["changes"][0]["value"]
    value["contacts"][0]["wa_id"] = BOB.lstrip("+")
    message = value["messages"][0]
    message.update({"from": BOB.lstrip("+"), "id": wamid, "text": {"body": text}})
    message.pop("context")
    assert (await post_signed(client, orjson.dumps(document), APP_SECRET)).status_code == 200
    await drain(database)


def by_wamid(page: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {m["wamid"]: m for m in page["items"]}


class TestReplies:
    async def test_delivered_and_unrouted_messages_newest_first(
        self, app: FastAPI, client: httpx.AsyncClient, database: Database, org: OrgHandle
    ) -> None:
        async with running_bot() as bot:
            setup = await alice_campaign(app, database, org.id, bot)
            await receive(client, database, "text_reply.json")
            await deliver(app, database)
        await bob_writes(client, database, "Hello? Anyone there?")

        page = (await client.get(f"{API}/replies", headers=org.auth)).json()

        assert [m["wamid"] for m in page["items"]] == ["wamid.in.bob", "wamid.in.text"]
        alice, bob = by_wamid(page)["wamid.in.text"], by_wamid(page)["wamid.in.bob"]
        assert alice["routing"] == "bot_delivered" and alice["campaign"] == {"id": setup.campaign_id, "name": "Spring"}
        assert alice["contact"]["id"] == setup.alice and alice["text"] == "Does it come in another color?"
        assert alice["bot_delivery"]["status"] == "delivered" and alice["bot_delivery"]["attempts"] == 1
        assert bob["routing"] == "no_campaign" and bob["campaign"] is None and bob["bot_delivery"] is None
        assert bob["contact"] == {"id": setup.bob, "name": "Bob", "phone": BOB}

        campaign_page = (await client.get(f"{API}/campaigns/{setup.campaign_id}/replies", headers=org.auth)).json()
        assert [m["wamid"] for m in campaign_page["items"]] == ["wamid.in.text"]
        unrouted = (await client.get(f"{API}/replies?unrouted=true", headers=org.auth)).json()
        assert [m["wamid"] for m in unrouted["items"]] == ["wamid.in.bob"]

    async def test_a_failing_bot_shows_attempts_and_the_last_error(
        self, app: FastAPI, client: httpx.AsyncClient, database: Database, org: OrgHandle
    ) -> None:
        async with running_bot() as bot:
            bot.failing = True
            setup = await alice_campaign(app, database, org.id, bot)
            await receive(client, database, "text_reply.json")
            await deliver(app, database)

        [message] = (await client.get(f"{API}/campaigns/{setup.campaign_id}/replies", headers=org.auth)).json()["items"]

        assert message["routing"] == "bot_pending"
        delivery = message["bot_delivery"]
        assert delivery["attempts"] == 1 and delivery["last_error"] == "the bot flow answered HTTP 503"
        assert delivery["next_attempt_at"] is not None
        unrouted = (await client.get(f"{API}/replies?unrouted=true", headers=org.auth)).json()["items"]
        assert [m["wamid"] for m in unrouted] == ["wamid.in.text"]  # no bot has it yet

    async def test_a_campaign_without_a_bot_flow_says_so(
        self, app: FastAPI, client: httpx.AsyncClient, database: Database, org: OrgHandle
    ) -> None:
        setup = await alice_campaign(app, database, org.id)
        async with database.session() as session:
            await session.execute(update(Campaign).where(Campaign.id == setup.campaign_id).values(bot_flow_id=None))
        await receive(client, database, "text_reply.json")

        [message] = (await client.get(f"{API}/replies?unrouted=true", headers=org.auth)).json()["items"]
        assert message["routing"] == "no_bot" and message["campaign"]["id"] == setup.campaign_id

    async def test_search_by_text_name_or_phone_contact_and_pages(
        self, app: FastAPI, client: httpx.AsyncClient, database: Database, org: OrgHandle
    ) -> None:
        setup = await alice_campaign(app, database, org.id)
        await receive(client, database, "text_reply.json")
        for i in range(3):
            await bob_writes(client, database, f"note {i}", wamid=f"wamid.in.bob.{i}")

        async def wamids(query: str) -> list[str]:
            answer = await client.get(f"{API}/replies?{query}", headers=org.auth)
            assert answer.status_code == 200, answer.text
            return [m["wamid"] for m in answer.json()["items"]]

        assert await wamids("q=another+COLOR") == ["wamid.in.text"]
        assert await wamids("q=alice") == ["wamid.in.text"]
        assert await wamids("q=%2B1+415+555+7002") == ["wamid.in.bob.2", "wamid.in.bob.1", "wamid.in.bob.0"]
        assert await wamids(f"contact_id={setup.alice}") == ["wamid.in.text"]
        assert await wamids("q=100%25") == []
        first = (await client.get(f"{API}/replies?limit=2", headers=org.auth)).json()
        rest = (await client.get(f"{API}/replies?limit=2&cursor={first['next_cursor']}", headers=org.auth)).json()
        assert [m["wamid"] for m in first["items"] + rest["items"]] == [
            "wamid.in.bob.2", "wamid.in.bob.1", "wamid.in.bob.0", "wamid.in.text"]
        assert rest["next_cursor"] is None

    async def test_bad_input_and_other_organizations(
        self, app: FastAPI, client: httpx.AsyncClient, database: Database, org: OrgHandle, other_org: OrgHandle
    ) -> None:
        setup = await alice_campaign(app, database, org.id)
        await receive(client, database, "text_reply.json")
        assert (await client.get(f"{API}/replies", headers=other_org.auth)).json()["items"] == []
        theirs = await client.get(f"{API}/campaigns/{setup.campaign_id}/replies", headers=other_org.auth)
        assert theirs.status_code == 404
        for query, field in (("cursor=nope!", "cursor"), ("limit=0", "limit"), ("q=" + "x" * 201, "q")):
            answer = await client.get(f"{API}/replies?{query}", headers=org.auth)
            assert answer.status_code == 422, answer.text
            assert answer.json()["error"]["details"][0]["field"] == field


class TestMigration:
    async def test_deliveries_made_before_the_link_are_linked_to_their_message(
        self, app: FastAPI, client: httpx.AsyncClient, database: Database, db_url: str, org: OrgHandle
    ) -> None:
        async with running_bot() as bot:
            await alice_campaign(app, database, org.id, bot)
            await receive(client, database, "text_reply.json")
        await database.engine.dispose()  # no pooled connection in the way of the schema change
        config = migrate.alembic_config(db_url)
        await asyncio.to_thread(command.downgrade, config, "0010")  # before bot_deliveries.inbound_message_id
        await asyncio.to_thread(command.upgrade, config, "head")

        async with database.read_session() as session:
            linked = (await session.execute(select(BotDelivery.inbound_message_id))).scalars().all()
            message = (await session.execute(select(InboundMessage.id))).scalar_one()
        assert linked == [message]
        [shown] = (await client.get(f"{API}/replies", headers=org.auth)).json()["items"]
        assert shown["routing"] == "bot_pending" and shown["bot_delivery"]["attempts"] == 0
