"""End to end with the simulator: the quality circuit breaker pauses a campaign whose recent sends go
wrong, with the figure that tripped it, and reports ``campaign.paused_by_breaker``.

A real worker sends to the simulator, which posts Meta's status and ``user_preferences`` webhooks to a
live Herald: failures (131026, scenario ``unreachable``), 131049 (``marketing_capped``) or users
stopping marketing messages (``stopping``). The worker applies them, and its next claim finds the
window over a threshold and pauses the campaign. A resume restarts the window: the breaker judges
the sends after it, and trips again only once enough of them went wrong too.
"""

from __future__ import annotations

import re
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
from tests.dispatch.helpers import messages, running_worker, sim_messages, wait_until
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

# A claim takes three seconds of the pace (120 messages at 40 msg/s): enough for several claims.
CONTACTS = 400
RATE = 40.0
# A small window so the test is quick; the rules are the defaults' (10 % failures, 2 % opt-outs).
BREAKER = {"window": 40, "min_sends": 20}


@pytest.fixture
def herald_url(settings: Settings) -> Iterator[str]:
    with live_server(settings) as url:
        yield url


def phone(i: int) -> str:
    return f"+1415555{3000 + i}"


async def launch(app: FastAPI, client: httpx.AsyncClient, database: Database, org: OrgHandle, sim: SimulatorServer,
                 breaker: dict[str, Any]) -> int:
    answer = await client.post("/api/v1/event-endpoints", headers=org.auth, json={
        "url": "https://hooks.example.com/herald", "secret": "s" * 20,
        "event_types": ["campaign.paused", "campaign.paused_by_breaker"]})
    assert answer.status_code == 201, answer.text
    box = app.state.secret_box
    number_id = await make_number(database, box, org_id=org.id, base_url=sim.base_url)
    await make_template(database, org_id=org.id)
    media = await make_media(database, org_id=org.id, number_id=number_id, media_id=await upload_banner(sim.base_url))
    vip = {"tags": ["vip"], "valued_tags": {"customer_id": "1"}}
    await make_contacts(database, org_id=org.id,
                        specs=[{"phone": phone(i), "name": f"C{i}", **vip} for i in range(CONTACTS)])
    return await make_active_campaign(database, org_id=org.id, number_id=number_id, audience={"tags_any": ["vip"]},
                                      variables=VARIABLES, media_row_id=media, bot_flow_id=None, rate=RATE,
                                      breaker=breaker)


async def campaign_row(database: Database, campaign_id: int) -> Campaign:
    async with database.read_session() as session:
        row = await session.get(Campaign, campaign_id)
        assert row is not None
        return row


async def paused(database: Database, campaign_id: int) -> bool:
    return (await campaign_row(database, campaign_id)).status == "paused"


async def breaker_events(database: Database) -> list[dict[str, Any]]:
    return [e["data"] for e in await stored_events(database, "campaign.paused_by_breaker")]


def scenario(**keys: Any) -> Scenario:
    return Scenario.model_validate({"templates": [graph_template()], "seed": 5, "read_probability": 0,
                                    "reply_probability": 0, **keys})


class TestBreakerEndToEnd:
    async def test_failures_pause_the_campaign_with_the_figure_and_a_resume_restarts_the_window(
        self, app: FastAPI, client: httpx.AsyncClient, database: Database, org: OrgHandle, herald_url: str
    ) -> None:
        # Every third contact is no WhatsApp user: Meta accepts the send, then reports it failed (131026).
        unreachable = [phone(i) for i in range(0, CONTACTS, 3)]
        with SimulatorServer(scenario(unreachable=unreachable), webhook_url=f"{herald_url}/webhooks/whatsapp",
                             app_secret="sim-secret") as sim:
            campaign_id = await launch(app, client, database, org, sim, BREAKER)
            async with running_worker(database, app.state.secret_box):
                await wait_until(lambda: paused(database, campaign_id), timeout=30, every=0.05)
                reason = (await campaign_row(database, campaign_id)).status_reason or ""
                found = re.fullmatch(r"quality breaker: ([\d.]+) % of the last (\d+) sends failed \(limit 10 %\)",
                                     reason)
                assert found, reason
                rate, sends = float(found[1]), int(found[2])
                assert rate >= 10 and sends >= BREAKER["min_sends"]

                async def settled() -> bool:  # what was claimed before the pause has left or gone back
                    return not {"claimed", "sending"} & {m.status for m in (await messages(database, campaign_id)).values()}

                await wait_until(settled, timeout=10)
                sent_before = len(sim_messages(sim.base_url))
                assert sent_before < CONTACTS  # it stopped well before the end

                (event,) = await breaker_events(database)
                assert event == {"campaign_id": campaign_id, "rule": "failure_rate", "value": rate,
                                 "threshold": 10.0, "reason": reason, "window_sends": sends}

                # The stats show the gauge over its threshold.
                body = (await client.get(f"/api/v1/campaigns/{campaign_id}/stats", headers=org.auth)).json()
                gauge = next(g for g in body["breaker"]["gauges"] if g["rule"] == "failure_rate")
                assert gauge["threshold"] == 10.0 and gauge["value"] >= 10 and gauge["tripped"]

                resumed = await client.post(f"/api/v1/campaigns/{campaign_id}/resume", headers=org.auth)
                assert resumed.status_code == 200, resumed.text
                body = (await client.get(f"/api/v1/campaigns/{campaign_id}/stats", headers=org.auth)).json()
                assert body["breaker"]["window_sends"] == 0  # restarted: nothing judged yet
                assert not any(g["tripped"] for g in body["breaker"]["gauges"])

                # The failures go on: it trips again, after at least the minimum sample of new sends.
                await wait_until(lambda: paused(database, campaign_id), timeout=30, every=0.05)
                assert len(await breaker_events(database)) == 2
                assert len(sim_messages(sim.base_url)) - sent_before >= BREAKER["min_sends"]

    async def test_users_stopping_marketing_messages_trip_the_opt_out_rate(
        self, app: FastAPI, client: httpx.AsyncClient, database: Database, org: OrgHandle, herald_url: str
    ) -> None:
        stopping = [phone(i) for i in range(0, CONTACTS, 10)]  # 10 %, against the default limit of 2 %
        with SimulatorServer(scenario(stopping=stopping), webhook_url=f"{herald_url}/webhooks/whatsapp",
                             app_secret="sim-secret") as sim:
            campaign_id = await launch(app, client, database, org, sim, BREAKER)
            async with running_worker(database, app.state.secret_box):
                await wait_until(lambda: paused(database, campaign_id), timeout=30, every=0.05)
        reason = (await campaign_row(database, campaign_id)).status_reason or ""
        assert re.fullmatch(r"quality breaker: opt-outs came to [\d.]+ % of the last \d+ sends \(limit 2 %\)",
                            reason), reason
        assert [e["rule"] for e in await breaker_events(database)] == ["opt_out_rate"]

    async def test_a_burst_of_131049_trips_the_block_signals(
        self, app: FastAPI, client: httpx.AsyncClient, database: Database, org: OrgHandle, herald_url: str
    ) -> None:
        capped = [phone(i) for i in range(0, CONTACTS, 4)]
        breaker = {**BREAKER, "failure_rate": None, "block_signals": 5}
        with SimulatorServer(scenario(marketing_capped=capped), webhook_url=f"{herald_url}/webhooks/whatsapp",
                             app_secret="sim-secret") as sim:
            campaign_id = await launch(app, client, database, org, sim, breaker)
            async with running_worker(database, app.state.secret_box):
                await wait_until(lambda: paused(database, campaign_id), timeout=30, every=0.05)
        reason = (await campaign_row(database, campaign_id)).status_reason or ""
        assert re.fullmatch(r"quality breaker: \d+ block signals \(131048/131049\) in the last \d+ sends \(limit 5\)",
                            reason), reason

    async def test_the_number_flagged_red_mid_campaign_pauses_it(
        self, app: FastAPI, client: httpx.AsyncClient, database: Database, org: OrgHandle, herald_url: str
    ) -> None:
        # Meta flags the number after 30 sends: its phone_number_quality_update webhook reaches Herald.
        flagged = scenario(number_events=[{"event": "FLAGGED", "after_sends": 30}])
        with SimulatorServer(flagged, webhook_url=f"{herald_url}/webhooks/whatsapp", app_secret="sim-secret") as sim:
            campaign_id = await launch(app, client, database, org, sim, {})
            async with running_worker(database, app.state.secret_box):
                await wait_until(lambda: paused(database, campaign_id), timeout=30, every=0.05)
            assert len(sim_messages(sim.base_url)) < CONTACTS
        row = await campaign_row(database, campaign_id)
        assert row.status_reason == "quality breaker: the number +1 555 000 0001's quality rating dropped to RED"
        assert [(e["rule"], e["value"]) for e in await breaker_events(database)] == [("number_quality", "RED")]
