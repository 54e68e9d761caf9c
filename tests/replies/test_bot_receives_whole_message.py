"""The bot flow receives the message as Meta sent it (``whatsapp``) beside Herald's fields, which keep
the shape bots already read (docs/architecture.md, "Bot flows and replies"). Payloads:
tests/webhooks/payloads/inbound (each names its source), posted to /webhooks/whatsapp."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
from fastapi import FastAPI
from httpx import AsyncClient

from herald.kit.db import Database
from tests.conftest import OrgHandle
from tests.replies.helpers import BotEndpoint
from tests.webhooks.inbound_setup import alice_campaign, deliver, receive, running_bot


@pytest.fixture
async def bot() -> AsyncIterator[BotEndpoint]:
    async with running_bot() as endpoint:
        yield endpoint


async def bot_gets(app: FastAPI, client: AsyncClient, database: Database, org: OrgHandle, bot: BotEndpoint,
                   name: str) -> dict[str, Any]:
    await alice_campaign(app, database, org.id, bot)
    await receive(client, database, name)
    await deliver(app, database)
    [received] = bot.accepted
    return received.document


class TestBotReceivesWholeMessage:
    async def test_a_flow_answer_arrives_with_its_response_json(
        self, app: FastAPI, client: AsyncClient, database: Database, org: OrgHandle, bot: BotEndpoint
    ) -> None:
        body = await bot_gets(app, client, database, org, bot, "interactive_nfm_reply.json")
        answers = orjson.loads(body["whatsapp"]["interactive"]["nfm_reply"]["response_json"])
        assert answers["delivery_rating"] == "4" and answers["flow_token"] == "AQAAAAACS5Fp"
        assert body["whatsapp"]["context"]["id"] == "wamid.out.1"
        assert body["message"]["context_id"] == "wamid.out.1" and body["message"]["type"] == "interactive"

    async def test_a_template_button_keeps_herald_s_fields(
        self, app: FastAPI, client: AsyncClient, database: Database, org: OrgHandle, bot: BotEndpoint
    ) -> None:
        body = await bot_gets(app, client, database, org, bot, "button_reply.json")
        assert body["message"]["button"] == {"payload": "YES_PLEASE", "text": "Yes please"}
        assert body["whatsapp"]["button"] == {"payload": "YES_PLEASE", "text": "Yes please"}

    async def test_location_media_and_ad_referral_arrive_as_sent(
        self, app: FastAPI, client: AsyncClient, database: Database, org: OrgHandle, bot: BotEndpoint
    ) -> None:
        setup = await alice_campaign(app, database, org.id, bot)
        await receive(client, database, "location.json", "image.json", "text_referral.json")
        await deliver(app, database)
        by_type = {r.document["whatsapp"]["type"] + ("+referral" if "referral" in r.document["whatsapp"] else ""):
                   r.document for r in bot.accepted}
        location = by_type["location"]["whatsapp"]["location"]
        assert (location["latitude"], location["longitude"], location["name"]) == (37.4611978, -122.2164385,
                                                                                   "Facebook HQ")
        image = by_type["image"]["whatsapp"]["image"]
        assert (image["id"], image["mime_type"], image["sha256"]) == ("65463453", "image/jpeg", "4654+8g=")
        assert by_type["image"]["message"]["text"] == "my receipt"  # the caption, as before
        referral = by_type["text+referral"]["whatsapp"]["referral"]
        assert (referral["source_type"], referral["ctwa_clid"]) == ("ad", "ARAkLkA8")
        assert all(r.document["campaign"]["id"] == setup.campaign_id for r in bot.accepted)
