"""End to end: a real worker sends through Meta's Marketing Messages API on a number that uses it.

A MARKETING template's messages go to ``POST /{phone-id}/marketing_messages`` with the number's
``message_activity_sharing``; a UTILITY template's keep ``/messages`` on the same number (Meta's
Marketing Messages API takes marketing templates only). A number whose business has not accepted the
API's terms: Meta refuses every marketing message alike (the simulator answers with the refusal
360dialog publishes), so the campaign pauses with that reason and nothing is lost. Sources:
docs/whatsapp.md, "Marketing Messages API".
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import update

from herald.kit.crypto import SecretBox
from herald.kit.db import Database
from herald.models import Campaign, WhatsAppNumber
from herald.simulator import Scenario, SimulatorServer
from herald.whatsapp.errors import MARKETING_TERMS_REASON
from tests.conftest import OrgHandle
from tests.dispatch.helpers import done_sending, messages, running_worker, sim_messages, stats, wait_until
from tests.factories import graph_template, make_active_campaign, make_contacts, make_number, make_template

pytestmark = pytest.mark.slow

BODY = [{"type": "BODY", "text": "Hi {{1}}, your code {{2}} gets {{3}} off"}]
VARIABLES = {"1": {"source": "contact_name"}, "2": {"source": "text", "value": "A1"},
             "3": {"source": "text", "value": "20%"}}
VIP = ["+14155550101", "+14155550102", "+14155550103"]
BUYERS = ["+14155550201", "+14155550202"]


def scenario(*, terms_accepted: bool) -> Scenario:
    return Scenario.model_validate({
        "phone_numbers": [{"phone_number_id": "1090001", "waba_id": "2090001",
                           "marketing_messages_terms_accepted": terms_accepted}],
        "templates": [graph_template(components=BODY), graph_template("order_ready", components=BODY)
                      | {"category": "UTILITY"}],
        "seed": 3, "read_probability": 0, "reply_probability": 0,
    })


@pytest.fixture
def simulator() -> Iterator[SimulatorServer]:
    with SimulatorServer(scenario(terms_accepted=True), webhook_url=None, app_secret="sim-secret") as sim:
        yield sim


@pytest.fixture
def refusing_simulator() -> Iterator[SimulatorServer]:
    with SimulatorServer(scenario(terms_accepted=False), webhook_url=None, app_secret="sim-secret") as sim:
        yield sim


async def world(database: Database, box: SecretBox, org: OrgHandle, sim: SimulatorServer,
                **settings: Any) -> tuple[int, int]:
    """A number with ``settings``, a marketing campaign to the vips and a utility one to the buyers."""
    number_id = await make_number(database, box, org_id=org.id, base_url=sim.base_url)
    async with database.session() as session:
        await session.execute(update(WhatsAppNumber).where(WhatsAppNumber.id == number_id).values(**settings))
    await make_template(database, org_id=org.id, header_format=None, components=BODY)
    await make_template(database, org_id=org.id, name="order_ready", header_format=None, components=BODY,
                        category="UTILITY")
    await make_contacts(database, org_id=org.id, specs=[
        *({"phone": phone, "name": "Vip", "tags": ["vip"]} for phone in VIP),
        *({"phone": phone, "name": "Buyer", "tags": ["buyers"]} for phone in BUYERS),
    ])
    marketing = await make_active_campaign(database, org_id=org.id, number_id=number_id,
                                           audience={"tags_any": ["vip"]}, variables=VARIABLES, media_row_id=None,
                                           bot_flow_id=None, name="Spring sale")
    utility = await make_active_campaign(database, org_id=org.id, number_id=number_id,
                                         audience={"tags_any": ["buyers"]}, variables=VARIABLES, media_row_id=None,
                                         bot_flow_id=None, template="order_ready", name="Orders")
    return marketing, utility


async def campaign_row(database: Database, campaign_id: int) -> Campaign:
    async with database.read_session() as session:
        campaign = await session.get(Campaign, campaign_id)
        assert campaign is not None
        return campaign


class TestMarketingMessagesDispatch:
    async def test_marketing_templates_go_through_the_marketing_messages_api_and_utility_ones_keep_messages(
        self, app: FastAPI, database: Database, org: OrgHandle, simulator: SimulatorServer
    ) -> None:
        box: SecretBox = app.state.secret_box
        marketing, utility = await world(database, box, org, simulator, marketing_messages_api=True,
                                         marketing_messages_activity_sharing=True,
                                         marketing_messages_ttl_seconds=86_400)
        async with running_worker(database, box):
            await wait_until(lambda: done_sending(database, marketing))
            await wait_until(lambda: done_sending(database, utility))

        sent = sim_messages(simulator.base_url)
        by_to = {m["to"]: m for m in sent}
        assert len(sent) == len(VIP) + len(BUYERS)
        assert {(by_to[p]["template"], by_to[p]["endpoint"], by_to[p]["activity_sharing"]) for p in VIP} == {
            ("promo", "marketing_messages", True)}
        assert {(by_to[p]["template"], by_to[p]["endpoint"], by_to[p]["activity_sharing"]) for p in BUYERS} == {
            ("order_ready", "messages", None)}
        rows = await messages(database, marketing)
        assert {m.status for m in rows.values()} == {"sent"}
        assert {m.wamid for m in rows.values()} == {by_to[p]["wamid"] for p in VIP}

    async def test_a_number_that_does_not_use_it_sends_marketing_templates_to_messages(
        self, app: FastAPI, database: Database, org: OrgHandle, simulator: SimulatorServer
    ) -> None:
        box: SecretBox = app.state.secret_box
        marketing, _ = await world(database, box, org, simulator, marketing_messages_activity_sharing=True)
        async with running_worker(database, box):
            await wait_until(lambda: done_sending(database, marketing))
        sent = [m for m in sim_messages(simulator.base_url) if m["template"] == "promo"]
        assert len(sent) == len(VIP) and {m["endpoint"] for m in sent} == {"messages"}

    async def test_terms_not_accepted_pauses_the_marketing_campaign_with_the_reason_and_sends_the_utility_one(
        self, app: FastAPI, database: Database, org: OrgHandle, refusing_simulator: SimulatorServer
    ) -> None:
        box: SecretBox = app.state.secret_box
        marketing, utility = await world(database, box, org, refusing_simulator, marketing_messages_api=True)

        async def paused() -> bool:
            return (await campaign_row(database, marketing)).status == "paused"

        async with running_worker(database, box):
            await wait_until(paused)
            await wait_until(lambda: done_sending(database, utility))

        campaign = await campaign_row(database, marketing)
        assert campaign.status_reason == MARKETING_TERMS_REASON
        # Nothing was accepted and nothing is lost: every vip waits, its attempt refunded, for the resume.
        counts = await stats(database, marketing)
        assert (counts["pending"], counts["sent"], counts["not_sent"]) == (len(VIP), 0, 0)
        assert {m.attempts for m in (await messages(database, marketing)).values()} == {0}
        sent = sim_messages(refusing_simulator.base_url)
        assert sorted(m["to"] for m in sent) == BUYERS and {m["endpoint"] for m in sent} == {"messages"}
