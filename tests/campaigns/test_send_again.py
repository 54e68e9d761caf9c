"""Unknown messages that stay unresolved are listed per campaign and sent again only by a person,
audited (``campaigns/resend.py``, ``/api/v1/campaigns/{id}/unknown-messages``)."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select, update

from herald.auth.principal import Role
from herald.campaigns import counters
from herald.kit.db import Database
from herald.kit.types import utcnow
from herald.models import AuditEvent, Campaign, CampaignMessage
from herald.simulator import Scenario, SimulatorServer
from tests.conftest import OrgHandle
from tests.dispatch.helpers import done_sending, running_worker, sim_messages, stats, wait_until
from tests.dispatch.test_crash_and_scale import TEXT_ONLY, seed
from tests.factories import graph_template

pytestmark = pytest.mark.slow  # a worker sends through the simulator at a real pace


async def make_unknown(database: Database, campaign: int, ids: list[int], *, hours_ago: float) -> None:
    """As the reaper leaves a dead sender's ``sending`` rows: unknown, since ``hours_ago``."""
    async with database.session() as session:
        await session.execute(update(CampaignMessage).where(CampaignMessage.id.in_(ids)).values(
            status="unknown", unknown_since=utcnow() - timedelta(hours=hours_ago), attempts=1))
        await counters.add(session, campaign_id=campaign, pending=-len(ids), unknown=len(ids))


async def message_ids(database: Database, campaign: int) -> list[int]:
    async with database.read_session() as session:
        return list((await session.execute(
            select(CampaignMessage.id).where(CampaignMessage.campaign_id == campaign).order_by(CampaignMessage.id)
        )).scalars())


async def materialized(database: Database, campaign: int, n: int) -> bool:
    return len(await message_ids(database, campaign)) == n


class TestSendAgain:
    async def test_stale_unknowns_are_listed_and_sent_once_more_on_request(
        self, app: FastAPI, client: httpx.AsyncClient, database: Database, org: OrgHandle,
    ) -> None:
        scenario = Scenario.model_validate({
            "templates": [graph_template("hello", components=TEXT_ONLY)], "read_probability": 0, "reply_probability": 0,
            "phone_numbers": [{"phone_number_id": "1090001", "waba_id": "2090001", "throughput_mps": 1000}],
        })
        with SimulatorServer(scenario, webhook_url="http://127.0.0.1:9/none", app_secret="sim-secret") as sim:
            (campaign,) = await seed(app, database, org, sim, n=6, numbers=[("1090001", "2090001")], rate=50)
            async with database.session() as session:  # held until the audience exists and is marked
                await session.execute(update(Campaign).where(Campaign.id == campaign).values(status="paused"))
            async with running_worker(database, app.state.secret_box):
                await wait_until(lambda: materialized(database, campaign, 6))
                ids = await message_ids(database, campaign)
                await make_unknown(database, campaign, ids[:2], hours_ago=30)  # stale
                await make_unknown(database, campaign, ids[2:3], hours_ago=1)  # WhatsApp may still answer
                async with database.session() as session:
                    await session.execute(update(Campaign).where(Campaign.id == campaign).values(status="active"))
                await wait_until(lambda: done_sending(database, campaign))
                assert len(sim_messages(sim.base_url)) == 3, "unknown messages are never sent again by themselves"

                listed = await client.get(f"/api/v1/campaigns/{campaign}/unknown-messages", headers=org.headers(Role.viewer))
                assert listed.status_code == 200, listed.text
                body = listed.json()
                assert body["older_than_hours"] == 24 and body["total"] == 2
                assert [item["message_id"] for item in body["items"]] == ids[:2]
                assert body["items"][0]["phone"].startswith("+1415")

                refused = await client.post(f"/api/v1/campaigns/{campaign}/unknown-messages/send-again",
                                            json={}, headers=org.headers(Role.viewer))
                assert refused.status_code == 403
                again = await client.post(f"/api/v1/campaigns/{campaign}/unknown-messages/send-again",
                                          json={}, headers=org.headers(Role.editor))
                assert again.status_code == 200, again.text
                assert again.json() == {"sent_again": 2}
                await wait_until(lambda: _accepted(sim, 5))
                await wait_until(lambda: done_sending(database, campaign))
            sent_to = sorted(m["biz_opaque_callback_data"] for m in sim_messages(sim.base_url))

        assert sent_to == sorted(str(i) for i in ids if i != ids[2])  # the recent unknown is still left alone
        counts = await stats(database, campaign)
        assert (counts["sent"], counts["unknown"], counts["pending"]) == (5, 1, 0)
        async with database.read_session() as session:
            (audit,) = (await session.execute(select(AuditEvent))).scalars()
        assert (audit.action, audit.campaign_id, audit.detail["messages"]) == ("messages.sent_again", campaign, 2)
        assert audit.api_key_id is not None and audit.org_id == org.id
        listed = await client.get(f"/api/v1/campaigns/{campaign}/unknown-messages", headers=org.auth)
        assert listed.json()["total"] == 0

    async def test_an_ended_campaign_cannot_send_again(
        self, app: FastAPI, client: httpx.AsyncClient, database: Database, org: OrgHandle,
    ) -> None:
        with SimulatorServer(Scenario.model_validate({"templates": [graph_template("hello", components=TEXT_ONLY)]}),
                             webhook_url="http://127.0.0.1:9/none", app_secret="sim-secret") as sim:
            (campaign,) = await seed(app, database, org, sim, n=2, numbers=[("1090001", "2090001")], rate=50)
        async with database.session() as session:
            await session.execute(update(Campaign).where(Campaign.id == campaign).values(status="ended", ended_at=utcnow()))
        answer = await client.post(f"/api/v1/campaigns/{campaign}/unknown-messages/send-again", json={}, headers=org.auth)
        assert answer.status_code == 409
        assert answer.json()["error"]["code"] == "campaign_not_running"

    async def test_another_organizations_campaign_is_not_found(
        self, app: FastAPI, client: httpx.AsyncClient, database: Database, org: OrgHandle, make_org,  # type: ignore[no-untyped-def]
    ) -> None:
        with SimulatorServer(Scenario.model_validate({"templates": [graph_template("hello", components=TEXT_ONLY)]}),
                             webhook_url="http://127.0.0.1:9/none", app_secret="sim-secret") as sim:
            (campaign,) = await seed(app, database, org, sim, n=1, numbers=[("1090001", "2090001")], rate=50)
        other = await make_org("Other")
        for answer in (
            await client.get(f"/api/v1/campaigns/{campaign}/unknown-messages", headers=other.auth),
            await client.post(f"/api/v1/campaigns/{campaign}/unknown-messages/send-again", json={}, headers=other.auth),
        ):
            assert answer.status_code == 404


async def _accepted(sim: SimulatorServer, n: int) -> bool:
    return len(sim_messages(sim.base_url)) >= n
