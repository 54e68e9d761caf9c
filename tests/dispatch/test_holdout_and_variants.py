"""Holdout and A/B variants end to end with the simulator: held-out contacts are never sent but stay
engaged and can convert; each sent contact receives its own variant's text; the experiment stats and
the report CSV show both."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

import httpx
import pytest
from fastapi import FastAPI

from herald.campaigns import experiment
from herald.campaigns.ending import release_ended
from herald.campaigns.lifecycle import Status, transition
from herald.kit.db import Database
from herald.kit.types import utcnow
from herald.simulator import Scenario, SimulatorServer
from tests.conftest import OrgHandle
from tests.dispatch.helpers import done_sending, messages, running_worker, sim_messages, stats, wait_until
from tests.factories import graph_template, make_active_campaign, make_contacts, make_number, make_template

pytestmark = pytest.mark.slow

SEED = 424_242
TEXT = [{"type": "BODY", "text": "Hello {{1}}"}]
VARIANTS = [
    {"template_name": None, "template_language": None, "variables": {"1": {"source": "text", "value": "Alpha"}},
     "share": 50},
    {"template_name": "greeting", "template_language": "en_US",
     "variables": {"1": {"source": "text", "value": "Beta"}}, "share": 50},
]


@pytest.fixture
def simulator() -> Iterator[SimulatorServer]:
    scenario = Scenario.model_validate({
        "templates": [graph_template("hello", components=TEXT), graph_template("greeting", components=TEXT)],
        "seed": 1, "read_probability": 0, "reply_probability": 0,
    })
    with SimulatorServer(scenario, webhook_url=None, app_secret="sim-secret") as sim:
        yield sim


async def test_holdout_is_not_sent_but_engaged_and_variants_get_their_own_text(
    app: FastAPI, client: httpx.AsyncClient, database: Database, org: OrgHandle, simulator: SimulatorServer
) -> None:
    number = await make_number(database, app.state.secret_box, org_id=org.id, base_url=simulator.base_url)
    for name in ("hello", "greeting"):
        await make_template(database, org_id=org.id, name=name, variables=["1"], header_format=None)
    ids = await make_contacts(database, org_id=org.id, specs=[
        {"phone": f"+1415556{i:04d}", "tags": ["vip"]} for i in range(40)])
    held = {cid for cid in ids if experiment.is_holdout(SEED, 25.0, cid)}
    assert 0 < len(held) < len(ids)
    phones = {cid: f"+1415556{i:04d}" for i, cid in enumerate(ids)}

    async with running_worker(database, app.state.secret_box):
        campaign = await make_active_campaign(
            database, org_id=org.id, number_id=number, audience={"tags_any": ["vip"]}, variables=VARIANTS[0]["variables"],
            media_row_id=None, bot_flow_id=None, template="hello", holdout_percent=25.0, variants=VARIANTS,
            experiment_seed=SEED)
        await wait_until(lambda: done_sending(database, campaign))
        # While it runs, another campaign cannot reach the held-out contacts either.
        other = await make_active_campaign(
            database, org_id=org.id, number_id=number, audience={"tags_any": ["vip"]},
            variables={"1": {"source": "text", "value": "Other"}}, media_row_id=None, bot_flow_id=None,
            template="hello", name="other")
        await wait_until(lambda: done_sending(database, other))

    sent = {m["to"]: m for m in sim_messages(simulator.base_url)}
    assert set(sent) == {phones[cid].lstrip("+") for cid in ids if cid not in held} or set(sent) == {
        phones[cid] for cid in ids if cid not in held}
    rows = await messages(database, campaign)
    for cid in ids:
        if cid in held:
            assert rows[cid].status == "holdout" and rows[cid].variant is None
            continue
        got = sent.get(phones[cid]) or sent[phones[cid].lstrip("+")]
        expected = ("hello", "Alpha") if rows[cid].variant == 0 else ("greeting", "Beta")
        assert (got["template"], got["parameters"]) == (expected[0], [expected[1]])
    assert {m.status for m in (await messages(database, other)).values()} == {"not_sent"}
    counted = await stats(database, campaign)
    assert (counted["targeted"], counted["sent"], counted["not_sent"]) == (40, 40 - len(held), 0)

    # A held-out contact's conversion is accepted (a bot or the API reports it).
    some_held = sorted(held)[0]
    response = await client.post(f"/api/v1/campaigns/{campaign}/funnel-events",
                                 json={"contact_id": some_held, "step": "purchase"}, headers=org.auth)
    assert response.status_code == 201, response.text
    some_sent = sorted(set(ids) - held)[:3]
    for cid in some_sent:
        response = await client.post(f"/api/v1/campaigns/{campaign}/funnel-events",
                                     json={"contact_id": cid, "step": "purchase"}, headers=org.auth)
        assert response.status_code == 201

    body = (await client.get(f"/api/v1/campaigns/{campaign}/experiment", headers=org.auth)).json()
    holdout = body["holdout"]
    assert (holdout["sent"], holdout["holdout"]) == (40 - len(held), len(held))
    (step,) = holdout["steps"]
    assert (step["step"], step["sent_converted"], step["holdout_converted"]) == ("purchase", 3, 1)
    assert step["sentence"] == "too few contacts to tell"
    assert [v["name"] for v in body["variants"]] == ["A", "B"]
    assert sum(v["sent"] for v in body["variants"]) == 40 - len(held)
    assert sum(s["reached"]["count"] for v in body["variants"] for s in v["steps"]) == 3

    listed = (await client.get(f"/api/v1/campaigns/{campaign}/contacts", params={"outcome": "holdout", "limit": 100},
                               headers=org.auth)).json()
    assert {i["contact_id"] for i in listed["items"]} == held and listed["total"] == len(held)
    assert {(i["status"], i["variant"]) for i in listed["items"]} == {("holdout", None)}
    sent_page = (await client.get(f"/api/v1/campaigns/{campaign}/contacts", params={"outcome": "sent", "limit": 100},
                                  headers=org.auth)).json()
    assert {i["variant"] for i in sent_page["items"]} == {"A", "B"}

    report = await client.get(f"/api/v1/campaigns/{campaign}/report.csv", headers=org.auth)
    lines = list(csv.DictReader(io.StringIO(report.text)))
    assert {int(r["contact_id"]) for r in lines if r["status"] == "holdout"} == held
    assert {r["variant"] for r in lines if r["status"] != "holdout"} <= {"A", "B"}
    assert all(r["variant"] == "" for r in lines if r["status"] == "holdout")

    # Ended: the held-out contacts are free for the next campaign.
    async with database.session() as session:
        await transition(session, campaign_id=campaign, to=Status.ended, values={"ended_at": utcnow()})
        await release_ended(session, campaign_id=campaign)
    assert (await stats(database, campaign))["holdout"] == len(held)
