"""Follow-ups by outcome end to end: a worker sends a campaign to the simulator, whose webhooks (to a
live Herald) say what happened to each message — failures, deliveries, reads on cue, quick-reply taps,
text replies — and the bot reports a funnel step. Each follow-up then freezes exactly the contacts of
its outcome; later webhooks do not change a snapshot; the follow-up, narrowed by a tag, is sent to
those contacts alone (campaigns/followups.py)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import update

from herald.config import Settings
from herald.kit.db import Database
from herald.kit.types import utcnow
from herald.models import Contact
from herald.simulator import Scenario, SimulatorServer
from tests.conftest import OrgHandle
from tests.dispatch.helpers import done_sending, messages, running_worker, sim_messages, stats, wait_until
from tests.factories import (
    graph_template,
    make_active_campaign,
    make_bot_flow,
    make_contacts,
    make_number,
    make_template,
)
from tests.live import live_server

pytestmark = [pytest.mark.server, pytest.mark.slow]

API = "/api/v1/campaigns"
TEXT_ONLY = [{"type": "BODY", "text": "Hello {{1}}"}]
VARIABLES = {"1": {"source": "contact_name"}}
PHONE_NUMBER_ID = "1090001"
PHONES = {
    "invalid": "+14155561001",  # not on WhatsApp: failed 131026
    "stopped": "+14155561002",  # stopped marketing on WhatsApp: failed 131050
    "experiment": "+14155561003",  # failed 130472
    "opted_out": "+14155561004",  # failed 130472, then opted out in Herald
    "delivered": "+14155561005",
    "delivered2": "+14155561006",
    "read": "+14155561007",
    "text": "+14155561008",
    "yes": "+14155561009",
    "no": "+14155561010",
}
GOLD = {"delivered", "yes", "read"}


@pytest.fixture
def herald_url(settings: Settings) -> Iterator[str]:
    with live_server(settings) as url:
        yield url


@pytest.fixture
def simulator(herald_url: str) -> Iterator[SimulatorServer]:
    scenario = Scenario.model_validate({
        "templates": [graph_template("hello", components=TEXT_ONLY)], "seed": 3,
        "read_probability": 0, "reply_probability": 0,
        "unreachable": [PHONES["invalid"]], "stopped": [PHONES["stopped"]],
        "experiment": [PHONES["experiment"], PHONES["opted_out"]],
    })
    with SimulatorServer(scenario, webhook_url=f"{herald_url}/webhooks/whatsapp", app_secret="sim-secret") as sim:
        yield sim


async def sim_post(sim: SimulatorServer, path: str, body: dict[str, Any]) -> None:
    async with httpx.AsyncClient() as http:
        (await http.post(f"{sim.base_url}{path}", json={"phone_number_id": PHONE_NUMBER_ID, **body})).raise_for_status()


async def snapshot(client: httpx.AsyncClient, org: OrgHandle, campaign_id: int) -> set[str]:
    body = (await client.get(f"{API}/{campaign_id}/audience-snapshot", params={"limit": 500}, headers=org.auth)).json()
    by_phone = {phone: name for name, phone in PHONES.items()}
    return {by_phone[item["phone"]] for item in body["items"]}


async def follow_up(client: httpx.AsyncClient, org: OrgHandle, parent: int, **body: Any) -> int:
    answer = await client.post(f"{API}/{parent}/follow-ups", json=body, headers=org.auth)
    assert answer.status_code == 201, answer.text
    return int(answer.json()["id"])


class TestFollowUpsFromWebhooks:
    async def test_each_outcome_then_the_follow_up_sends_to_its_snapshot_and_tags(
        self, app: FastAPI, client: httpx.AsyncClient, database: Database, org: OrgHandle, simulator: SimulatorServer
    ) -> None:
        box = app.state.secret_box
        number = await make_number(database, box, org_id=org.id, base_url=simulator.base_url)
        await make_template(database, org_id=org.id, name="hello", variables=["1"], header_format=None)
        bot = await make_bot_flow(database, box, org_id=org.id)
        specs = [{"phone": phone, "name": name, "tags": ["vip", "gold"] if name in GOLD else ["vip"]}
                 for name, phone in PHONES.items()]
        specs.append({"phone": "+14155561099", "name": "Gold outsider", "tags": ["gold"]})
        ids = dict(zip([*PHONES, "outsider"], await make_contacts(database, org_id=org.id, specs=specs), strict=True))

        async with running_worker(database, box):
            parent = await make_active_campaign(
                database, org_id=org.id, number_id=number, audience={"tags_any": ["vip"]}, variables=VARIABLES,
                media_row_id=None, bot_flow_id=bot, template="hello", name="Spring",
            )

            async def statuses_in() -> bool:
                figures = await stats(database, parent)
                return await done_sending(database, parent) and (figures["received"], figures["not_sent"]) == (6, 4)

            await wait_until(statuses_in)
            sent = await messages(database, parent)
            wamid = {name: sent[ids[name]].wamid for name in PHONES}
            await sim_post(simulator, "/_sim/status", {"wamid": wamid["read"], "status": "read"})
            await sim_post(simulator, "/_sim/inbound", {"from": PHONES["text"], "text": "tell me more",
                                                        "context_id": wamid["text"]})
            await sim_post(simulator, "/_sim/inbound", {"from": PHONES["yes"], "button_payload": "YES",
                                                        "button_text": "Yes please", "context_id": wamid["yes"]})
            await sim_post(simulator, "/_sim/inbound", {"from": PHONES["no"], "button_payload": "NO",
                                                        "button_text": "No thanks", "context_id": wamid["no"]})

            async def replies_in() -> bool:
                rows = await messages(database, parent)
                return rows[ids["read"]].status == "read" and all(
                    rows[ids[n]].replied_at is not None for n in ("text", "yes", "no"))

            await wait_until(replies_in)
            for name in ("yes", "text"):  # the bot reports a conversion
                answer = await client.post(f"{API}/{parent}/funnel-events", headers=org.auth,
                                           json={"contact_id": ids[name], "step": "paid"})
                assert answer.status_code in (200, 201), answer.text
            async with database.session() as session:
                await session.execute(update(Contact).where(Contact.id == ids["opted_out"]).values(
                    opted_out_at=utcnow(), opted_out_reason="replied STOP"))
            assert (await client.post(f"{API}/{parent}/end", headers=org.auth)).status_code == 200

            expected = {
                ("not_delivered", None, None): {"experiment"},
                ("delivered_not_read", None, None): {"delivered", "delivered2"},
                ("read_not_replied", None, None): {"read"},
                ("replied_button", "YES", None): {"yes"},
                ("replied_button", "No thanks", None): {"no"},
                ("reached_step", None, "paid"): {"yes", "text"},
                ("not_reached_step", None, "paid"): {"delivered", "delivered2", "read", "no"},
            }
            children = {}
            for (outcome, button, step), names in expected.items():
                children[outcome, button, step] = child = await follow_up(
                    client, org, parent, outcome=outcome, button=button, step=step)
                assert await snapshot(client, org, child) == names, outcome

            # Frozen: "delivered2" reads it now; its snapshot does not move, a new follow-up sees the change.
            await sim_post(simulator, "/_sim/status", {"wamid": wamid["delivered2"], "status": "read"})

            async def read_now() -> bool:
                return (await messages(database, parent))[ids["delivered2"]].status == "read"

            await wait_until(read_now)
            assert await snapshot(client, org, children["delivered_not_read", None, None]) == {"delivered", "delivered2"}
            assert await snapshot(client, org, await follow_up(client, org, parent, outcome="delivered_not_read")) \
                == {"delivered"}

            # The follow-up of those who did not pay, narrowed to gold: "delivered" and "read", not "yes"
            # (it paid) nor the gold outsider (never in the parent).
            child = children["not_reached_step", None, "paid"]
            before = Counter(m["to"] for m in sim_messages(simulator.base_url))
            edited = await client.patch(f"{API}/{child}", json={"audience": {"tags_any": ["gold"]}}, headers=org.auth)
            assert edited.status_code == 200 and edited.json()["status"] == "ready", edited.text
            started = await client.post(f"{API}/{child}/start", json={"rate_per_second": 5}, headers=org.auth)
            assert started.status_code == 200, started.text
            await wait_until(lambda: done_sending(database, child))

        after = Counter(m["to"] for m in sim_messages(simulator.base_url))
        assert sorted((after - before).elements()) == sorted(PHONES[n] for n in ("delivered", "read"))
        figures = await stats(database, child)
        assert (figures["targeted"], figures["sent"]) == (2, 2)
        listed = (await client.get(f"{API}/{parent}/follow-ups", headers=org.auth)).json()["items"]
        assert [f["id"] for f in listed] == sorted(children.values()) + [listed[-1]["id"]]
        assert (await client.get(f"{API}/{child}", headers=org.auth)).json()["parent_campaign_id"] == parent
