"""131049, Meta's per-user marketing limit, end to end: the simulator fails a marketing template to a
"capped" user with an asynchronous 131049 status, a live Herald applies it, and a running worker tries
again at growing intervals (24 h, 48 h, 96 h) until the campaign's deadline; each try and the final
outcome are in the contact's report row; the campaign stays active while a retry is due, and ending
it cancels the retries. The 24-hour waits are skipped by moving the due time to now."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import timedelta

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select, update

from herald.config import Settings
from herald.dispatch.scheduler import auto_end_campaigns
from herald.kit.db import Database
from herald.kit.types import utcnow
from herald.models import Campaign, CampaignMessage
from herald.simulator import Scenario, SimulatorServer
from tests.conftest import OrgHandle
from tests.dispatch.helpers import running_worker, sim_messages, stats, wait_until
from tests.dispatch.test_messaging_limit import VARIABLES, upload_banner
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

CAPPED = "+14155550123"
FINE = "+14155550124"
REASON = "Meta chose not to deliver (per-user marketing limit)"
WAITING = "retrying after Meta's per-user marketing limit (131049)"


@pytest.fixture
def herald_url(settings: Settings) -> Iterator[str]:
    with live_server(settings) as url:
        yield url


@pytest.fixture
def simulator(herald_url: str) -> Iterator[SimulatorServer]:
    scenario = Scenario.model_validate({
        "templates": [graph_template()], "marketing_capped": [CAPPED], "seed": 5,
        "read_probability": 0, "reply_probability": 0,
        "status_delays_ms": {"sent": 10, "delivered": 20, "read": 30, "reply": 40},
    })
    with SimulatorServer(scenario, webhook_url=f"{herald_url}/webhooks/whatsapp", app_secret="sim-secret") as sim:
        yield sim


async def launch(app: FastAPI, database: Database, org: OrgHandle, sim: SimulatorServer) -> tuple[int, int, int]:
    box = app.state.secret_box
    number_id = await make_number(database, box, org_id=org.id, base_url=sim.base_url)
    await make_template(database, org_id=org.id)
    media = await make_media(database, org_id=org.id, number_id=number_id, media_id=await upload_banner(sim.base_url))
    bot = await make_bot_flow(database, box, org_id=org.id)
    capped, fine = await make_contacts(database, org_id=org.id, specs=[
        {"phone": CAPPED, "name": "Capped", "tags": ["vip"]}, {"phone": FINE, "name": "Fine", "tags": ["vip"]}])
    campaign = await make_active_campaign(
        database, org_id=org.id, number_id=number_id, audience={"tags_any": ["vip"]}, variables=VARIABLES,
        media_row_id=media, bot_flow_id=bot, rate=20,
    )
    return campaign, capped, fine


async def capped_row(database: Database, campaign_id: int, contact_id: int) -> CampaignMessage:
    row = await maybe_row(database, campaign_id, contact_id)
    assert row is not None
    return row


async def maybe_row(database: Database, campaign_id: int, contact_id: int) -> CampaignMessage | None:
    async with database.read_session() as session:
        return (await session.execute(select(CampaignMessage).where(
            CampaignMessage.campaign_id == campaign_id, CampaignMessage.contact_id == contact_id))).scalar_one_or_none()


async def waiting_after(database: Database, campaign_id: int, contact_id: int, attempts: int) -> bool:
    row = await maybe_row(database, campaign_id, contact_id)  # None until the audience is materialised
    return row is not None and row.status == "pending" and row.attempts == attempts and row.wait_reason == WAITING


async def due_now(database: Database, campaign_id: int, contact_id: int) -> None:
    """The retry's day (or days) have passed."""
    async with database.session() as session:
        await session.execute(update(CampaignMessage).where(
            CampaignMessage.campaign_id == campaign_id, CampaignMessage.contact_id == contact_id,
        ).values(next_attempt_at=utcnow()))


class TestMarketingLimitRetries:
    async def test_retried_at_24_48_and_96_hours_then_failed_with_every_try_in_the_report(
        self, app: FastAPI, client: httpx.AsyncClient, database: Database, org: OrgHandle, simulator: SimulatorServer
    ) -> None:
        campaign, capped, fine = await launch(app, database, org, simulator)
        async with running_worker(database, app.state.secret_box):
            for attempt, hours in ((1, 24), (2, 48), (3, 96)):
                await wait_until(lambda a=attempt: waiting_after(database, campaign, capped, a))  # type: ignore[misc]
                row = await capped_row(database, campaign, capped)
                assert (row.error_msg, row.error_code, row.wamid) == (REASON, 131049, None)
                assert row.next_attempt_at is not None
                assert timedelta(hours=hours) - timedelta(minutes=1) < row.next_attempt_at - utcnow() <= timedelta(hours=hours)

                # While a retry is due the campaign stays active, however long ago its last send was.
                async with database.session() as session:
                    await session.execute(update(Campaign).where(Campaign.id == campaign).values(
                        last_sent_at=utcnow() - timedelta(days=30)))
                assert await auto_end_campaigns(database) == []
                async with database.read_session() as session:
                    assert (await session.get(Campaign, campaign)).status == "active"  # type: ignore[union-attr]
                body = (await client.get(f"/api/v1/campaigns/{campaign}/stats", headers=org.auth)).json()
                assert (body["waiting"], body["waiting_reasons"]) == (1, {WAITING: 1})
                await due_now(database, campaign, capped)

            # The fourth try would be 360 h after the first, past the 7-day deadline: the refusal is final.
            async def final() -> bool:
                return (await capped_row(database, campaign, capped)).status == "failed"

            await wait_until(final)
        row = await capped_row(database, campaign, capped)
        assert (row.attempts, row.error_msg, row.error_code, row.wait_reason) == (4, REASON, 131049, WAITING)
        assert [m["to"] for m in sim_messages(simulator.base_url)].count(CAPPED) == 4
        counts = await stats(database, campaign)
        assert (counts["sent"], counts["not_sent"], counts["pending"]) == (1, 1, 0)
        report = (await client.get(f"/api/v1/campaigns/{campaign}/report.csv", headers=org.auth)).text
        rows = {r["phone"]: r for r in csv.DictReader(io.StringIO(report, newline=""))}
        assert {k: rows[CAPPED][k] for k in ("status", "error_msg", "attempts", "last_error", "waiting")} == {
            "status": "failed", "error_msg": REASON, "attempts": "4", "last_error": REASON, "waiting": ""}
        assert rows[FINE]["status"] in ("sent", "delivered")
        assert (rows[FINE]["attempts"], rows[FINE]["last_error"]) == ("1", "")

    async def test_ending_the_campaign_cancels_a_due_retry(
        self, app: FastAPI, client: httpx.AsyncClient, database: Database, org: OrgHandle, simulator: SimulatorServer
    ) -> None:
        campaign, capped, _ = await launch(app, database, org, simulator)
        async with running_worker(database, app.state.secret_box):
            await wait_until(lambda: waiting_after(database, campaign, capped, 1))
            ended = await client.post(f"/api/v1/campaigns/{campaign}/end", headers=org.auth)
            assert ended.status_code == 200, ended.text
            await due_now(database, campaign, capped)
        row = await capped_row(database, campaign, capped)
        assert (row.status, row.error_msg, row.attempts) == ("not_sent", "campaign ended", 1)
        assert [m["to"] for m in sim_messages(simulator.base_url)].count(CAPPED) == 1

    async def test_a_shorter_deadline_set_through_the_api_ends_the_retries_sooner(
        self, app: FastAPI, client: httpx.AsyncClient, database: Database, org: OrgHandle, simulator: SimulatorServer
    ) -> None:
        campaign, capped, _ = await launch(app, database, org, simulator)
        async with database.session() as session:  # a running campaign's settings are not editable: as if set before
            await session.execute(update(Campaign).where(Campaign.id == campaign).values(marketing_retry_days=2))
        async with running_worker(database, app.state.secret_box):
            await wait_until(lambda: waiting_after(database, campaign, capped, 1))
            await due_now(database, campaign, capped)

            async def final() -> bool:
                return (await capped_row(database, campaign, capped)).status == "failed"

            await wait_until(final)  # the next try would come 72 h after the first: past 2 days
        assert (await capped_row(database, campaign, capped)).attempts == 2


class TestDeadlineSetting:
    async def test_the_deadline_is_a_campaign_setting_with_a_default_and_bounds(
        self, client: httpx.AsyncClient, org: OrgHandle
    ) -> None:
        created = await client.post("/api/v1/campaigns", headers=org.auth, json={"name": "Retry"})
        assert created.status_code == 201, created.text
        assert created.json()["marketing_retry_days"] == 7
        changed = await client.patch(f"/api/v1/campaigns/{created.json()['id']}", headers=org.auth,
                                     json={"marketing_retry_days": 3})
        assert changed.json()["marketing_retry_days"] == 3
        refused = await client.patch(f"/api/v1/campaigns/{created.json()['id']}", headers=org.auth,
                                     json={"marketing_retry_days": 31})
        assert refused.status_code == 422
        assert "marketing_retry_days" in refused.text
