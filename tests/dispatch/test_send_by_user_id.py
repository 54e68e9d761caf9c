"""A campaign to username users (issue 20, item 6): a contact known only by its WhatsApp user id
(BSUID) is sent to by ``recipient``, its statuses and reply come back under that id, and the report
shows it; a contact with a phone is still sent to the phone (Meta recommends it). End to end: a
live Herald, the simulator posting signed webhooks to it, the real worker and a real bot endpoint.
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from herald.campaigns import reasons
from herald.config import Settings
from herald.kit.db import Database
from herald.models import CampaignNotSentReason, InboundMessage
from herald.simulator import Scenario, SimulatorServer
from tests.conftest import OrgHandle
from tests.dispatch.helpers import messages, running_worker, sim_messages, stats, wait_until
from tests.dispatch.test_campaign_dispatch import VARIABLES, upload_banner
from tests.factories import (
    graph_template,
    make_active_campaign,
    make_bot_flow,
    make_contacts,
    make_media,
    make_number,
    make_template,
)
from tests.live import live_server
from tests.replies.helpers import BOT_SECRET, PHONE_NUMBER_ID, BotEndpoint

pytestmark = [pytest.mark.server, pytest.mark.slow]

URSULA_ID = "US.13491208655302741918"  # the form of Meta's example BSUID: no phone known
PEDRO_PHONE, PEDRO_ID = "+14155552001", "BR.99887766554433221100"


@pytest.fixture
def herald_url(settings: Settings) -> Iterator[str]:
    with live_server(settings) as url:
        yield url


@pytest.fixture
def sim(herald_url: str) -> Iterator[SimulatorServer]:
    # Everyone reads, nobody taps the quick reply on their own: the reply below is written without context.
    scenario = Scenario.model_validate({
        "templates": [graph_template()], "seed": 11, "read_probability": 1.0, "reply_probability": 0,
        "status_delays_ms": {"sent": 5, "delivered": 10, "read": 20, "reply": 30},
    })
    with SimulatorServer(scenario, webhook_url=f"{herald_url}/webhooks/whatsapp", app_secret="sim-secret") as server:
        yield server


@pytest.fixture
async def bot() -> AsyncIterator[BotEndpoint]:
    endpoint = BotEndpoint()
    await endpoint.start()
    yield endpoint
    await endpoint.stop()


async def campaign_to(database: Database, box: Any, org: OrgHandle, sim: SimulatorServer, bot: BotEndpoint,
                      specs: list[dict[str, Any]]) -> tuple[int, list[int], int]:
    number_id = await make_number(database, box, org_id=org.id, base_url=sim.base_url)
    await make_template(database, org_id=org.id)
    media = await make_media(database, org_id=org.id, number_id=number_id, media_id=await upload_banner(sim.base_url))
    bot_flow = await make_bot_flow(database, box, org_id=org.id, url=bot.url, secret=BOT_SECRET)
    ids = await make_contacts(database, org_id=org.id, specs=specs)
    campaign = await make_active_campaign(
        database, org_id=org.id, number_id=number_id, audience={"tags_any": ["vip"]}, variables=VARIABLES,
        media_row_id=media, bot_flow_id=bot_flow, rate=80,
    )
    return campaign, ids, number_id


async def write_as_user_id(sim: SimulatorServer, user_id: str, text: str) -> str:
    """A username user writes: no phone in the webhook, only ``from_user_id``."""
    async with httpx.AsyncClient() as http:
        answer = await http.post(f"{sim.base_url}/_sim/inbound",
                                 json={"phone_number_id": PHONE_NUMBER_ID, "from_user_id": user_id, "text": text})
        answer.raise_for_status()
        return str(answer.json()["id"])


class TestCampaignToUsernameUsers:
    async def test_a_contact_with_only_a_user_id_is_sent_read_replies_and_is_in_the_report(
        self, app: FastAPI, client: httpx.AsyncClient, database: Database, org: OrgHandle, sim: SimulatorServer,
        bot: BotEndpoint,
    ) -> None:
        box = app.state.secret_box
        campaign, (ursula, pedro), number_id = await campaign_to(database, box, org, sim, bot, [
            {"phone": None, "wa_user_id": URSULA_ID, "name": "Ursula", "tags": ["vip"],
             "valued_tags": {"customer_id": "7"}},
            {"phone": PEDRO_PHONE, "wa_user_id": PEDRO_ID, "name": "Pedro", "tags": ["vip"],
             "valued_tags": {"customer_id": "8"}},
        ])

        async def both_read() -> bool:
            return (await stats(database, campaign))["read"] == 2

        async with running_worker(database, box):
            await wait_until(both_read, timeout=30)
            wamid = await write_as_user_id(sim, URSULA_ID, "Is the 20% for me too?")
            await wait_until(lambda: _at_least(bot.accepted, 1), timeout=20)

        # The send named Ursula by her user id in `recipient`; Pedro by his phone in `to`.
        sent = {m["to"]: m for m in sim_messages(sim.base_url) if m["type"] == "template"}
        assert set(sent) == {URSULA_ID, PEDRO_PHONE}
        assert sent[URSULA_ID]["user_id"] == URSULA_ID and sent[URSULA_ID]["wa_id"] == ""
        assert sent[PEDRO_PHONE]["wa_id"] == PEDRO_PHONE[1:] and sent[PEDRO_PHONE]["user_id"] is None
        # Her statuses (named by recipient_user_id only) were applied, and her reply counted.
        rows = await messages(database, campaign)
        assert rows[ursula].status == "read" and rows[ursula].wamid == sent[URSULA_ID]["wamid"]
        assert rows[ursula].replied_at is not None and rows[pedro].replied_at is None
        counts = await stats(database, campaign)
        assert (counts["sent"], counts["received"], counts["read"], counts["replied"]) == (2, 2, 2, 1)
        # The reply, without a context, was matched to her by the user id and reached the bot.
        async with database.read_session() as session:
            stored = (await session.execute(select(InboundMessage).where(InboundMessage.wamid == wamid))).scalar_one()
        assert (stored.contact_id, stored.campaign_id, stored.from_wa_id) == (ursula, campaign, None)
        [delivery] = bot.accepted
        assert delivery.document["contact"]["id"] == ursula
        assert delivery.document["contact"]["phone"] is None
        assert delivery.document["contact"]["wa_user_id"] == URSULA_ID
        assert delivery.document["message"]["text"] == "Is the 20% for me too?"
        # The bot answers her inside the 24-hour window, naming her by the user id.
        answer = await client.post("/api/v1/messages", headers=org.auth, json={
            "whatsapp_number_id": number_id, "to": URSULA_ID, "text": "Yes, delivery is free."})
        assert answer.status_code == 200, answer.text
        [text] = [m for m in sim_messages(sim.base_url) if m["wamid"] == answer.json()["wamid"]]
        assert (text["to"], text["user_id"], text["type"], text["text"]) == (
            URSULA_ID, URSULA_ID, "text", "Yes, delivery is free.")
        # The report: her row has no phone and names her user id.
        answer = await client.get(f"/api/v1/campaigns/{campaign}/report.csv", headers=org.auth)
        assert answer.status_code == 200
        report = {int(r["contact_id"]): r for r in csv.DictReader(io.StringIO(answer.text, newline=""))}
        assert report[ursula]["phone"] == "" and report[ursula]["wa_user_id"] == URSULA_ID
        assert report[ursula]["status"] == "read" and report[ursula]["replied_at"].endswith("Z")
        assert report[pedro]["phone"] == PEDRO_PHONE and report[pedro]["wa_user_id"] == PEDRO_ID

    async def test_a_contact_whose_user_id_meta_would_refuse_is_not_sent_with_the_reason(
        self, app: FastAPI, client: httpx.AsyncClient, database: Database, org: OrgHandle, sim: SimulatorServer,
        bot: BotEndpoint,
    ) -> None:
        # A user id not of Meta's form cannot come in through the API or the CSV (both refuse it); an
        # older database may hold one, stored from a webhook before it was checked.
        box = app.state.secret_box
        campaign, (odd, fine), _ = await campaign_to(database, box, org, sim, bot, [
            {"phone": None, "wa_user_id": "legacy-id-42", "tags": ["vip"], "valued_tags": {"customer_id": "1"}},
            {"phone": None, "wa_user_id": URSULA_ID, "tags": ["vip"], "valued_tags": {"customer_id": "2"}},
        ])

        async def settled() -> bool:
            counts = await stats(database, campaign)
            return counts["pending"] == 0 and counts["received"] == 1

        async with running_worker(database, box):
            await wait_until(settled, timeout=30)

        rows = await messages(database, campaign)
        assert rows[odd].status == "not_sent" and rows[odd].error_msg == reasons.NO_ADDRESS
        assert rows[fine].status in ("delivered", "read")
        assert [m["to"] for m in sim_messages(sim.base_url)] == [URSULA_ID]
        async with database.read_session() as session:
            counted = (await session.execute(
                select(CampaignNotSentReason.count).where(CampaignNotSentReason.campaign_id == campaign,
                                                          CampaignNotSentReason.reason == reasons.NO_ADDRESS)
            )).scalar_one()
        assert counted == 1
        answer = await client.get(f"/api/v1/campaigns/{campaign}/stats", headers=org.auth)
        assert answer.json()["not_sent_reasons"] == {reasons.NO_ADDRESS: 1}


async def _at_least(items: list[Any], count: int) -> bool:
    return len(items) >= count
