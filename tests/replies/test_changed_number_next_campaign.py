"""End to end with the simulator: a contact who changes number (Meta's user_changed_number system
message, tests/webhooks/payloads/inbound/system_changed_number.json) gets the next campaign at the
new number, as the same contact."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from herald.kit.db import Database
from herald.models import Contact, Media
from herald.simulator import SimulatorServer
from tests.conftest import OrgHandle
from tests.dispatch.helpers import done_sending, running_worker, sim_messages, wait_until
from tests.dispatch.test_campaign_dispatch import VARIABLES
from tests.factories import make_active_campaign
from tests.replies.helpers import BotEndpoint, vip_campaign
from tests.webhooks.helpers import post_signed
from tests.webhooks.inbound_setup import ALICE, APP_SECRET, payload

pytestmark = [pytest.mark.server, pytest.mark.slow]
NEW_PHONE = "+14155557099"


async def phone_of(database: Database, contact_id: int) -> str | None:
    async with database.read_session() as session:
        return (await session.execute(select(Contact.phone).where(Contact.id == contact_id))).scalar_one()


class TestChangedNumberNextCampaign:
    async def test_the_next_campaign_goes_to_the_new_number(
        self, app: FastAPI, client: httpx.AsyncClient, database: Database, org: OrgHandle, sim: SimulatorServer,
        bot: BotEndpoint,
    ) -> None:
        box = app.state.secret_box
        setup = await vip_campaign(database, box, org_id=org.id, sim_url=sim.base_url, bot_url=bot.url, count=1,
                                   extra=[{"phone": ALICE, "name": "Alice", "tags": ["vip"],
                                           "valued_tags": {"customer_id": "8812"}}])
        alice = setup.contact_ids[-1]
        async with running_worker(database, box):
            await wait_until(lambda: done_sending(database, setup.campaign_id), timeout=30)
            ended = await client.post(f"/api/v1/campaigns/{setup.campaign_id}/end", headers=org.auth)
            assert ended.status_code == 200, ended.text
            assert (await post_signed(client, payload("system_changed_number.json"), APP_SECRET)).status_code == 200

            async def moved() -> bool:
                return await phone_of(database, alice) == NEW_PHONE

            await wait_until(moved, timeout=20)
            async with database.read_session() as session:
                media = (await session.execute(select(Media.id).where(Media.org_id == org.id))).scalar_one()
            second = await make_active_campaign(
                database, org_id=org.id, number_id=setup.number_id, audience={"tags_any": ["vip"]},
                variables=VARIABLES, media_row_id=media, bot_flow_id=setup.bot_flow_id, name="Second",
            )
            await wait_until(lambda: done_sending(database, second), timeout=30)
        sent_to = [m["to"] for m in sim_messages(sim.base_url)]
        assert sent_to.count(ALICE) == 1  # the first campaign only
        assert sent_to.count(NEW_PHONE) == 1  # the second, at the new number
