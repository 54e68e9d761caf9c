"""The organization's frequency cap, applied as the engine claims messages (campaigns/frequency_cap.py)."""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Iterator

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import update

from herald.campaigns.ending import release_ended
from herald.campaigns.lifecycle import Status, transition
from herald.kit.db import Database
from herald.kit.types import utcnow
from herald.models import Organization
from herald.simulator import Scenario, SimulatorServer
from tests.conftest import OrgHandle
from tests.dispatch.helpers import done_sending, messages, running_worker, sim_messages, stats, wait_until
from tests.factories import graph_template, make_active_campaign, make_contacts, make_number, make_template

pytestmark = pytest.mark.slow

TEXT_ONLY = [{"type": "BODY", "text": "Hello {{1}}"}]
VARIABLES = {"1": {"source": "contact_name"}}
PHONES = ["+14155560001", "+14155560002"]


@pytest.fixture
def simulator() -> Iterator[SimulatorServer]:
    scenario = Scenario.model_validate({
        "templates": [graph_template("hello", components=TEXT_ONLY), graph_template("notice", components=TEXT_ONLY)],
        "seed": 1, "read_probability": 0, "reply_probability": 0,
    })
    with SimulatorServer(scenario, webhook_url=None, app_secret="sim-secret") as sim:
        yield sim


async def setup(app: FastAPI, database: Database, org: OrgHandle, sim: SimulatorServer) -> tuple[int, list[int]]:
    number = await make_number(database, app.state.secret_box, org_id=org.id, base_url=sim.base_url)
    await make_template(database, org_id=org.id, name="hello", variables=["1"], header_format=None)
    await make_template(database, org_id=org.id, name="notice", variables=["1"], header_format=None,
                        category="UTILITY")
    contacts = await make_contacts(database, org_id=org.id, specs=[
        {"phone": phone, "name": f"C{i}", "tags": ["vip"]} for i, phone in enumerate(PHONES)
    ])
    return number, contacts


async def set_cap(database: Database, org: OrgHandle, messages: int, days: int) -> None:
    async with database.session() as session:
        await session.execute(update(Organization).where(Organization.id == org.id)
                              .values(frequency_cap_messages=messages, frequency_cap_days=days))


async def run(database: Database, org: OrgHandle, number: int, name: str, *, template: str = "hello",
              exempt: bool = False, test_contact_ids: list[int] | None = None) -> dict[str, int]:
    """Runs one campaign to the end (freeing its contacts for the next); returns its stats."""
    campaign = await make_active_campaign(
        database, org_id=org.id, number_id=number, audience=None if test_contact_ids else {"tags_any": ["vip"]},
        variables=VARIABLES, media_row_id=None, bot_flow_id=None, template=template, name=name,
        test_contact_ids=test_contact_ids, frequency_cap_exempt=exempt,
    )
    await wait_until(lambda: done_sending(database, campaign))
    async with database.session() as session:
        await transition(session, campaign_id=campaign, to=Status.ended, values={"ended_at": utcnow()})
        await release_ended(session, campaign_id=campaign)
    result = await stats(database, campaign)
    result["id"] = campaign
    return result


class TestFrequencyCap:
    async def test_a_contact_sent_twice_this_week_is_not_sent_a_third_time(
        self, app: FastAPI, client: httpx.AsyncClient, database: Database, org: OrgHandle, simulator: SimulatorServer
    ) -> None:
        number, _ = await setup(app, database, org, simulator)
        await set_cap(database, org, 2, 7)
        async with running_worker(database, app.state.secret_box):
            assert (await run(database, org, number, "first"))["sent"] == 2
            assert (await run(database, org, number, "second"))["sent"] == 2
            third = await run(database, org, number, "third")
        assert third["sent"] == 0 and third["not_sent"] == 2
        assert {m.error_msg for m in (await messages(database, third["id"])).values()} == {
            "frequency cap reached (2 in 7 days)"
        }
        assert Counter(Counter(m["to"] for m in sim_messages(simulator.base_url)).values()) == Counter({2: 2})
        report = await client.get(f"/api/v1/campaigns/{third['id']}/report.csv", headers=org.auth)
        rows = list(csv.DictReader(io.StringIO(report.text)))
        assert [r["error_msg"] for r in rows] == ["frequency cap reached (2 in 7 days)"] * 2

    async def test_tests_exempt_and_utility_campaigns_are_neither_capped_nor_counted(
        self, app: FastAPI, database: Database, org: OrgHandle, simulator: SimulatorServer
    ) -> None:
        number, contacts = await setup(app, database, org, simulator)
        await set_cap(database, org, 2, 7)
        async with running_worker(database, app.state.secret_box):
            for name in ("first", "second"):
                assert (await run(database, org, number, name))["sent"] == 2
            # At the cap: these still go.
            assert (await run(database, org, number, "test", test_contact_ids=contacts))["sent"] == 2
            assert (await run(database, org, number, "service notice", exempt=True))["sent"] == 2
            assert (await run(database, org, number, "receipt", template="notice"))["sent"] == 2
            # And they did not count: with one more allowed, one more marketing campaign goes, then no more.
            await set_cap(database, org, 3, 7)
            assert (await run(database, org, number, "third"))["sent"] == 2
            fourth = await run(database, org, number, "fourth")
        assert fourth["not_sent"] == 2
        assert {m.error_msg for m in (await messages(database, fourth["id"])).values()} == {
            "frequency cap reached (3 in 7 days)"
        }

    async def test_without_a_cap_nothing_is_held_back(
        self, app: FastAPI, database: Database, org: OrgHandle, simulator: SimulatorServer
    ) -> None:
        number, _ = await setup(app, database, org, simulator)
        async with running_worker(database, app.state.secret_box):
            for name in ("first", "second", "third"):
                assert (await run(database, org, number, name))["sent"] == 2
