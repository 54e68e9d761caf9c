"""End to end with the simulator: Meta pauses (or recategorises) a campaign's template mid-campaign.

A real worker sends to the simulator; the simulator pauses the template after so many accepted sends
(scenario ``template_events``) and posts Meta's webhook to a live Herald. The campaign is paused
within a second of the webhook's arrival, with Meta's reason, and nothing more is sent with it once
the sender has seen the pause (it re-reads its active campaigns every ``REFRESH_SECONDS``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from herald.config import Settings
from herald.dispatch.sender import REFRESH_SECONDS
from herald.kit.db import Database
from herald.models import Campaign, Template, WebhookEvent
from herald.simulator import Scenario, SimulatorServer
from tests.conftest import OrgHandle
from tests.dispatch.helpers import running_worker, sim_messages, stats, wait_until
from tests.dispatch.test_campaign_dispatch import VARIABLES, upload_banner
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

CONTACTS = 150
RATE = 30.0
PAUSE_AFTER = 30
# A send already written when the sender re-reads its campaigns still completes.
IN_FLIGHT = 0.5


@pytest.fixture
def herald_url(settings: Settings) -> Iterator[str]:
    with live_server(settings) as url:
        yield url


async def launch(app: FastAPI, database: Database, org: OrgHandle, sim: SimulatorServer, *, category: str,
                 auto_resume: bool = False) -> int:
    box = app.state.secret_box
    number_id = await make_number(database, box, org_id=org.id, base_url=sim.base_url)
    template_id = await make_template(database, org_id=org.id)
    async with database.session() as session:
        template = await session.get(Template, template_id)
        assert template is not None
        template.category = category
    media = await make_media(database, org_id=org.id, number_id=number_id, media_id=await upload_banner(sim.base_url))
    vip = {"tags": ["vip"], "valued_tags": {"customer_id": "1"}}
    await make_contacts(database, org_id=org.id,
                        specs=[{"phone": f"+1415555{2000 + i}", "name": f"C{i}", **vip} for i in range(CONTACTS)])
    campaign_id = await make_active_campaign(database, org_id=org.id, number_id=number_id,
                                             audience={"tags_any": ["vip"]}, variables=VARIABLES, media_row_id=media,
                                             bot_flow_id=None, rate=RATE)
    async with database.session() as session:
        campaign = await session.get(Campaign, campaign_id)
        assert campaign is not None
        campaign.auto_resume = auto_resume
    return campaign_id


async def campaign_row(database: Database, campaign_id: int) -> Campaign:
    async with database.read_session() as session:
        row = await session.get(Campaign, campaign_id)
        assert row is not None
        return row


async def arrival(database: Database, kind: str) -> datetime:
    async with database.read_session() as session:
        query = select(WebhookEvent.received_at).where(WebhookEvent.kind == kind).order_by(WebhookEvent.id)
        return (await session.execute(query)).scalars().first()  # type: ignore[return-value]


def sends(sim: SimulatorServer) -> list[dict[str, Any]]:
    return [m for m in sim_messages(sim.base_url) if m["template"] == "promo"]


def attempts(sim: SimulatorServer) -> int:
    """Sends accepted, and sends refused because the template is paused (132015)."""
    return len(sends(sim)) + int(sim.stats()["rejected"].get("132015", 0))


async def paused_then_silent(database: Database, sim: SimulatorServer, campaign_id: int, kind: str) -> tuple[Campaign, float]:
    """Waits for the pause; returns the campaign and when the test saw it paused (epoch seconds).

    Asserts the pause came within a second of the webhook's arrival (or before it, when a send refused
    for the paused template came first), and that no send leaves after the sender's next refresh (and
    one in flight), however long one waits.
    """
    async def paused() -> bool:
        return (await campaign_row(database, campaign_id)).status == "paused"

    await wait_until(paused, timeout=20, every=0.05)
    seen = time.time()

    # The send refused with 132015 after Meta paused the template can pause the campaign (engine's reason)
    # before the webhook arrives; the webhook then gives it Meta's reason (asserted by the callers).
    async def arrived() -> bool:
        return await arrival(database, kind) is not None

    await wait_until(arrived, timeout=10, every=0.05)
    received = await arrival(database, kind)
    assert received is not None
    assert seen - received.timestamp() < 1.0, f"paused {seen - received.timestamp():.2f} s after the webhook arrived"
    await asyncio.sleep(REFRESH_SECONDS + IN_FLIGHT)
    settled = attempts(sim)
    await asyncio.sleep(2.0)
    assert attempts(sim) == settled, "sends went on after the sender saw the campaign paused"
    late = [m for m in sends(sim) if m["time"] > seen + REFRESH_SECONDS + IN_FLIGHT]
    assert late == []
    return await campaign_row(database, campaign_id), seen


class TestTemplatePausedMidCampaign:
    async def test_the_campaign_pauses_with_metas_reason_then_resumes_when_reinstated(
        self, app: FastAPI, database: Database, org: OrgHandle, herald_url: str
    ) -> None:
        pause = {"after_sends": PAUSE_AFTER, "name": "promo", "language": "en_US", "event": "PAUSED",
                 "title": "FIRST_PAUSE", "description": "Paused for 3 hours: customers reported this template."}
        scenario = Scenario.model_validate({
            "templates": [graph_template()], "seed": 5, "read_probability": 0, "reply_probability": 0,
            "template_events": [pause],
        })
        with SimulatorServer(scenario, webhook_url=f"{herald_url}/webhooks/whatsapp", app_secret="sim-secret") as sim:
            campaign_id = await launch(app, database, org, sim, category="MARKETING", auto_resume=True)
            async with running_worker(database, app.state.secret_box):
                campaign, _ = await paused_then_silent(database, sim, campaign_id, "template_status")
                assert campaign.status_reason is not None
                assert campaign.status_reason.startswith("template unusable: 'promo' (en_US) is PAUSED at Meta since ")
                assert campaign.status_reason.endswith(
                    ": Paused for 3 hours: customers reported this template. (FIRST_PAUSE)")
                counts = await stats(database, campaign_id)
                assert counts["pending"] > 0  # there was more to send
                assert len(sends(sim)) < CONTACTS

                httpx.post(f"{sim.base_url}/_sim/template-status",
                           json={"name": "promo", "language": "en_US", "event": "REINSTATED"}).raise_for_status()

                async def all_sent() -> bool:
                    return (await stats(database, campaign_id))["pending"] == 0

                await wait_until(all_sent, timeout=40)
            resumed = await campaign_row(database, campaign_id)
            assert resumed.status == "active"
            assert resumed.status_reason is not None and resumed.status_reason.startswith("resumed automatically: ")
            assert len({m["to"] for m in sends(sim)}) == CONTACTS  # everyone, once each, after the resume
            assert len(sends(sim)) == CONTACTS

    async def test_a_template_recategorised_to_marketing_pauses_the_campaign_by_webhook_alone(
        self, app: FastAPI, database: Database, org: OrgHandle, herald_url: str
    ) -> None:
        """Meta keeps accepting a recategorised template's sends (at the new price): only its webhook stops them."""
        utility = {**graph_template(), "category": "UTILITY"}
        scenario = Scenario.model_validate({
            "templates": [utility], "seed": 5, "read_probability": 0, "reply_probability": 0,
            "template_events": [{"after_sends": PAUSE_AFTER, "name": "promo", "category": "MARKETING"}],
        })
        with SimulatorServer(scenario, webhook_url=f"{herald_url}/webhooks/whatsapp", app_secret="sim-secret") as sim:
            campaign_id = await launch(app, database, org, sim, category="UTILITY")
            async with running_worker(database, app.state.secret_box):
                campaign, _ = await paused_then_silent(database, sim, campaign_id, "template_category")
            assert campaign.status_reason is not None
            assert campaign.status_reason.startswith("template recategorised: 'promo' (en_US) is MARKETING since ")
            assert int(sim.stats()["rejected"].get("132015", 0)) == 0
            assert PAUSE_AFTER <= len(sends(sim)) < CONTACTS
