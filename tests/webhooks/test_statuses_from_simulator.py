"""Statuses produced by the simulator reach a live Herald and move the campaign's messages."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import FastAPI

from herald.config import Settings
from herald.kit.db import Database
from herald.simulator import Scenario, SimulatorServer
from tests.conftest import OrgHandle
from tests.dispatch.helpers import messages, running_worker, stats, wait_until
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

pytestmark = pytest.mark.server

UNREACHABLE = "+14155550199"


@pytest.fixture
def herald_url(settings: Settings) -> Iterator[str]:
    with live_server(settings) as url:
        yield url


class TestStatusesFromSimulator:
    async def test_read_and_failed_statuses_end_in_the_right_state(
        self, app: FastAPI, database: Database, org: OrgHandle, herald_url: str
    ) -> None:
        scenario = Scenario.model_validate({
            "templates": [graph_template()], "unreachable": [UNREACHABLE], "seed": 3,
            "read_probability": 1.0, "reply_probability": 0, "duplicate_probability": 0.3,
            "out_of_order_probability": 0.3, "skip_delivered_probability": 0.3,
            "status_delays_ms": {"sent": 10, "delivered": 40, "read": 80, "reply": 100},
        })
        with SimulatorServer(scenario, webhook_url=f"{herald_url}/webhooks/whatsapp", app_secret="sim-secret") as sim:
            box = app.state.secret_box
            number_id = await make_number(database, box, org_id=org.id, base_url=sim.base_url)
            await make_template(database, org_id=org.id)
            media = await make_media(database, org_id=org.id, number_id=number_id, media_id=await upload_banner(sim.base_url))
            bot = await make_bot_flow(database, box, org_id=org.id)
            vip = {"tags": ["vip"], "valued_tags": {"customer_id": "1"}}
            specs = [{"phone": f"+1415555{1000 + i}", "name": f"C{i}", **vip} for i in range(20)]
            specs.append({"phone": UNREACHABLE, "name": "Ghost", **vip})
            ids = await make_contacts(database, org_id=org.id, specs=specs)
            campaign = await make_active_campaign(
                database, org_id=org.id, number_id=number_id, audience={"tags_any": ["vip"]}, variables=VARIABLES,
                media_row_id=media, bot_flow_id=bot, rate=80,
            )

            async def all_final() -> bool:
                counts = await stats(database, campaign)
                return counts["read"] == 20 and counts["not_sent"] == 1

            async with running_worker(database, box):
                await wait_until(all_final, timeout=40)

        rows = await messages(database, campaign)
        ghost = rows[ids[-1]]
        assert (ghost.status, ghost.error_msg, ghost.error_code) == ("failed", "not a valid WhatsApp user", 131026)
        assert all(rows[c].status == "read" and rows[c].read_at and rows[c].sent_at for c in ids[:-1])
        counts = await stats(database, campaign)
        assert counts == {"targeted": 21, "pending": 0, "sent": 20, "received": 20, "read": 20, "replied": 0,
                          "unknown": 0, "not_sent": 1, "holdout": 0}
