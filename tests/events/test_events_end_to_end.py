"""A campaign sent to the in-process simulator, its webhooks received by a live Herald, its events
POSTed by the worker to a loopback receiver that verifies every signature."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import httpx
import pytest
from fastapi import FastAPI

from herald.campaigns.launch import launch_campaign
from herald.campaigns.lifecycle import Status, transition
from herald.config import Settings
from herald.kit.db import Database
from herald.simulator import Scenario, SimulatorServer
from tests.conftest import OrgHandle
from tests.dispatch.helpers import running_worker, wait_until
from tests.dispatch.test_campaign_dispatch import VARIABLES, upload_banner
from tests.events.receiver import RECEIVER_SECRET, EventReceiver
from tests.factories import (
    graph_template,
    make_active_campaign,
    make_contacts,
    make_media,
    make_number,
    make_template,
)
from tests.live import live_server

pytestmark = pytest.mark.server

TYPES = ["campaign.started", "campaign.ended", "message.sent", "message.delivered", "message.read"]


@pytest.fixture
def herald_url(settings: Settings) -> Iterator[str]:
    with live_server(settings) as url:
        yield url


@pytest.fixture
def sim(herald_url: str) -> Iterator[SimulatorServer]:
    scenario = Scenario.model_validate({
        "templates": [graph_template()], "seed": 11, "read_probability": 1, "reply_probability": 0,
        "status_delays_ms": {"sent": 5, "delivered": 10, "read": 20, "reply": 30},
    })
    with SimulatorServer(scenario, webhook_url=f"{herald_url}/webhooks/whatsapp", app_secret="sim-secret") as server:
        yield server


async def test_a_campaign_run_reaches_the_receiver_signed_once_per_event(
    app: FastAPI, database: Database, org: OrgHandle, herald_url: str, sim: SimulatorServer, receiver: EventReceiver
) -> None:
    async with httpx.AsyncClient(base_url=herald_url, headers=org.auth) as api:
        created = await api.post("/api/v1/event-endpoints", json={
            "url": receiver.url, "secret": RECEIVER_SECRET, "event_types": TYPES})
        assert created.status_code == 201, created.text
        box = app.state.secret_box
        number = await make_number(database, box, org_id=org.id, base_url=sim.base_url)
        await make_template(database, org_id=org.id)
        media = await make_media(database, org_id=org.id, number_id=number, media_id=await upload_banner(sim.base_url))
        phones = [f"+1415555{4000 + i}" for i in range(4)]
        await make_contacts(database, org_id=org.id, specs=[
            {"phone": p, "name": f"Vip {i}", "tags": ["vip"], "valued_tags": {"customer_id": str(i)}}
            for i, p in enumerate(phones)])
        campaign = await make_active_campaign(
            database, org_id=org.id, number_id=number, audience={"tags_any": ["vip"]}, variables=VARIABLES,
            media_row_id=media, bot_flow_id=None, rate=80, status="ready",
        )
        async with database.session() as session:  # what Start does, through the one transition
            await transition(session, campaign_id=campaign, to=Status.active, from_states=frozenset({Status.ready}))
            await launch_campaign(session, campaign_id=campaign)

        async with running_worker(database, box):
            async def all_read() -> bool:
                return len(receiver.of_type("message.read")) == len(phones)

            await wait_until(all_read)
            ended = await api.post(f"/api/v1/campaigns/{campaign}/end")
            assert ended.status_code == 200, ended.text

            async def ended_arrived() -> bool:
                return len(receiver.of_type("campaign.ended")) == 1

            await wait_until(ended_arrived)
        endpoint = created.json()["id"]
        log = (await api.get(f"/api/v1/event-endpoints/{endpoint}/deliveries", params={"limit": 100})).json()["items"]

    assert receiver.bad_signatures == 0
    assert Counter(e["type"] for e in receiver.events.values()) == {
        "campaign.started": 1, "message.sent": 4, "message.delivered": 4, "message.read": 4, "campaign.ended": 1}
    assert all(e["data"]["campaign_id"] == campaign and e["org_id"] == org.id for e in receiver.events.values())
    wamids = {e["data"]["wamid"] for e in receiver.of_type("message.read")}
    assert wamids == {e["data"]["wamid"] for e in receiver.of_type("message.sent")} and len(wamids) == 4
    # The log has a row per batch recorded together (a send batch, a round of statuses): 14 events in all.
    assert sum(d["event_count"] for d in log) == 14 and {d["status"] for d in log} == {"delivered"}
    assert {d["event_id"] for d in log} <= set(receiver.events)
