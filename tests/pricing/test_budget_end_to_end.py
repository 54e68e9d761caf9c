"""End to end with the simulator: the actual cost from Meta's ``pricing`` objects, and the budget cap.

A real worker sends to the simulator, which posts status webhooks carrying ``pricing`` (billable,
category, pricing model) to a live Herald. The campaign pauses with "budget reached" before a send
would take it past its budget, and no message beyond it leaves; raising the budget lets it resume
and finish. The stats show the actual cost, the report CSV each message's category and price, and the pause is
reported as ``campaign.budget_reached`` with the figures.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from herald.config import Settings
from herald.kit.db import Database
from herald.models import Campaign
from herald.simulator import Scenario, SimulatorServer
from tests.conftest import OrgHandle
from tests.dispatch.helpers import messages, running_worker, sim_messages, stats, wait_until
from tests.dispatch.test_campaign_dispatch import VARIABLES, upload_banner
from tests.events.stored import stored_events
from tests.factories import (
    graph_template,
    make_active_campaign,
    make_contacts,
    make_media,
    make_number,
    make_template,
)
from tests.live import live_server

pytestmark = [pytest.mark.server, pytest.mark.slow]

CONTACTS = 20
ARGENTINA_MARKETING = 0.0618  # Herald's card (src/herald/pricing/rate_card_2025-07-01.csv)
AFFORDABLE = 7
BUDGET = AFFORDABLE * ARGENTINA_MARKETING  # room for exactly 7 messages


@pytest.fixture
def herald_url(settings: Settings) -> Iterator[str]:
    with live_server(settings) as url:
        yield url


async def campaign_row(database: Database, campaign_id: int) -> Campaign:
    async with database.read_session() as session:
        row = await session.get(Campaign, campaign_id)
        assert row is not None
        return row


async def outbox(database: Database, event_type: str) -> list[dict[str, Any]]:
    return [e["data"] for e in await stored_events(database, event_type)]


class TestBudgetAndActualCost:
    async def test_pauses_at_the_budget_sends_nothing_beyond_it_and_finishes_once_it_is_raised(
        self, app: FastAPI, client: httpx.AsyncClient, database: Database, org: OrgHandle, herald_url: str
    ) -> None:
        scenario = Scenario.model_validate({"templates": [graph_template()], "seed": 11, "read_probability": 0,
                                            "reply_probability": 0})
        endpoint = await client.post("/api/v1/event-endpoints", headers=org.auth, json={
            "url": "https://hooks.example.com/herald", "secret": "s" * 20, "event_types": ["campaign.budget_reached"]})
        assert endpoint.status_code == 201, endpoint.text
        with SimulatorServer(scenario, webhook_url=f"{herald_url}/webhooks/whatsapp", app_secret="sim-secret") as sim:
            box = app.state.secret_box
            number_id = await make_number(database, box, org_id=org.id, base_url=sim.base_url)
            await make_template(database, org_id=org.id)
            media = await make_media(database, org_id=org.id, number_id=number_id,
                                     media_id=await upload_banner(sim.base_url))
            vip = {"tags": ["vip"], "valued_tags": {"customer_id": "1"}}
            await make_contacts(database, org_id=org.id, specs=[
                {"phone": f"+549115000{i:04d}", "name": f"C{i}", **vip} for i in range(CONTACTS)])
            campaign_id = await make_active_campaign(
                database, org_id=org.id, number_id=number_id, audience={"tags_any": ["vip"]}, variables=VARIABLES,
                media_row_id=media, bot_flow_id=None, rate=40)
            async with database.session() as session:
                campaign = await session.get(Campaign, campaign_id)
                assert campaign is not None
                campaign.budget = BUDGET

            async with running_worker(database, box):
                async def paused() -> bool:
                    return (await campaign_row(database, campaign_id)).status == "paused"

                await wait_until(paused, timeout=20, every=0.05)
                assert (await campaign_row(database, campaign_id)).status_reason == "budget reached"
                # Reported to the event endpoints with the figures (docs/events.md).
                (event,) = await outbox(database, "campaign.budget_reached")
                assert event["campaign_id"] == campaign_id and event["reason"] == "budget reached"
                assert event["budget"] == pytest.approx(BUDGET)
                assert event["committed_cost"] <= BUDGET + 1e-9
                assert event["committed_cost"] + event["next_message_price"] > BUDGET

                # The claim that paused it still sends the messages that fit (those the sender had
                # not sent yet when it saw the pause go back to pending), then records them.
                async def settled() -> bool:
                    rows = await messages(database, campaign_id)
                    sent = sum(m.status in ("sent", "delivered", "read") for m in rows.values())
                    return len(rows) == CONTACTS and "claimed" not in {m.status for m in rows.values()} and (
                        sent == len(sim_messages(sim.base_url)) > 0)

                await wait_until(settled, timeout=20)
                sent = len(sim_messages(sim.base_url))
                assert 0 < sent <= AFFORDABLE  # not one beyond the budget
                assert (await stats(database, campaign_id))["sent"] == sent
                row = await campaign_row(database, campaign_id)
                assert row.committed_cost == pytest.approx(sent * ARGENTINA_MARKETING)
                assert row.committed_cost <= BUDGET + 1e-9  # float sums

                # Every sent message is priced from its status webhooks: the actual cost so far.
                async def priced(cost: float) -> bool:
                    body = (await client.get(f"/api/v1/campaigns/{campaign_id}/stats", headers=org.auth)).json()
                    return bool(body["cost"]["actual"] == pytest.approx(cost))

                await wait_until(lambda: priced(sent * ARGENTINA_MARKETING), timeout=20)
                body = (await client.get(f"/api/v1/campaigns/{campaign_id}/stats", headers=org.auth)).json()
                assert body["cost"]["budget"] == pytest.approx(BUDGET)
                assert body["cost"]["currency"] == "USD"

                # Spent (when all that fit went): resuming is refused, naming the budget.
                if sent == AFFORDABLE:
                    refused = await client.post(f"/api/v1/campaigns/{campaign_id}/resume", headers=org.auth)
                    assert refused.status_code == 422, refused.text
                    assert refused.json()["error"]["details"][0]["field"] == "budget"

                raised = await client.patch(f"/api/v1/campaigns/{campaign_id}", headers=org.auth, json={"budget": 5})
                assert raised.status_code == 200, raised.text
                resumed = await client.post(f"/api/v1/campaigns/{campaign_id}/resume", headers=org.auth)
                assert resumed.status_code == 200, resumed.text

                async def all_sent() -> bool:
                    return (await stats(database, campaign_id))["pending"] == 0

                await wait_until(all_sent, timeout=30)
                await wait_until(lambda: priced(CONTACTS * ARGENTINA_MARKETING), timeout=20)
            assert len(sim_messages(sim.base_url)) == CONTACTS
            assert (await campaign_row(database, campaign_id)).status == "active"

            report = (await client.get(f"/api/v1/campaigns/{campaign_id}/report.csv", headers=org.auth)).text
            rows = list(csv.DictReader(io.StringIO(report, newline="")))
            assert list(rows[0])[-3:] == ["pricing_category", "price", "variant"]
            assert {(r["pricing_category"], float(r["price"])) for r in rows} == {("marketing", ARGENTINA_MARKETING)}
