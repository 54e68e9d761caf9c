"""A campaign's progress (reports/progress.py): GET /campaigns carries each campaign's figures, with the
stats' definitions, read in one statement whatever the number of campaigns; pace and estimated finish."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import event, update

from herald.kit.db import Database
from herald.kit.types import utcnow
from herald.models import Campaign
from herald.reports import progress
from tests.conftest import OrgHandle
from tests.factories import make_contacts, make_world
from tests.reports.helpers import add_messages, at, make_campaign
from tests.reports.test_stats import get_stats, mixed_specs

FIGURES = ("targeted", "pending", "sent", "received", "read", "replied", "unknown", "not_sent",
           "received_pct", "read_pct", "replied_pct")


async def listed(client: httpx.AsyncClient, org: OrgHandle) -> dict[int, Any]:
    answer = await client.get("/api/v1/campaigns", headers=org.auth)
    assert answer.status_code == 200, answer.text
    return {item["id"]: item for item in answer.json()["items"]}


@contextmanager
def statements(database: Database) -> Iterator[list[str]]:
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        seen.append(statement)

    event.listen(database.engine.sync_engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(database.engine.sync_engine, "before_cursor_execute", record)


class TestCampaignListProgress:
    async def test_each_listed_campaign_carries_the_stats_figures_and_how_much_is_done(
        self, client: httpx.AsyncClient, database: Database, org: OrgHandle
    ) -> None:
        campaign = await make_campaign(database, org_id=org.id)
        await add_messages(database, org_id=org.id, campaign_id=campaign, specs=mixed_specs())

        figures = (await listed(client, org))[campaign]["progress"]
        stats = await get_stats(client, org, campaign)

        assert {name: figures[name] for name in FIGURES} == {name: stats[name] for name in FIGURES}
        assert figures["done"] == 12 and figures["done_pct"] == 80.0  # 15 targeted, 3 pending
        assert figures["status"] == "active" and figures["pace_per_minute"] == 0.0  # nothing sent lately

    async def test_the_counters_of_every_row_are_read_in_one_statement(
        self, client: httpx.AsyncClient, database: Database, org: OrgHandle
    ) -> None:
        for n in range(2):
            campaign = await make_campaign(database, org_id=org.id, name=f"C{n}")
            await add_messages(database, org_id=org.id, campaign_id=campaign, specs=mixed_specs()[n * 5:n * 5 + 5])
        with statements(database) as few:
            await listed(client, org)
        for n in range(2, 12):
            await make_campaign(database, org_id=org.id, name=f"C{n}")
        with statements(database) as many:
            assert len(await listed(client, org)) == 12

        def counters(seen: list[str]) -> list[str]:
            return [s for s in seen if "campaign_stats" in s or "campaign_send_minutes" in s]

        assert len(counters(few)) == len(counters(many)) == 1
        assert len(many) <= len(few)  # (the first request also records the API key's use)

    async def test_an_active_campaign_finishes_its_pending_at_its_own_pace_before_any_send(
        self, client: httpx.AsyncClient, database: Database, org: OrgHandle
    ) -> None:
        campaign = await make_campaign(database, org_id=org.id)
        await add_messages(database, org_id=org.id, campaign_id=campaign, specs=mixed_specs())  # 3 pending
        async with database.session() as session:
            await session.execute(update(Campaign).where(Campaign.id == campaign).values(rate_per_second=0.05))
        before = utcnow()
        finish = (await listed(client, org))[campaign]["progress"]["estimated_finish"]
        # 3 messages at 3 a minute: a minute from now.
        assert before + timedelta(minutes=1) <= _time(finish) <= utcnow() + timedelta(minutes=1)

    async def test_an_active_campaign_with_messages_waiting_finishes_no_sooner_than_they_are_due(
        self, client: httpx.AsyncClient, database: Database, org: OrgHandle
    ) -> None:
        campaign = await make_campaign(database, org_id=org.id)
        due = (utcnow() + timedelta(hours=5)).replace(microsecond=0)
        await add_messages(database, org_id=org.id, campaign_id=campaign, specs=[
            {"phone": "+5511987650001", "status": "pending", "wait_reason": "waiting for 10:00 America/Sao_Paulo",
             "next_attempt_at": due},
            {"phone": "+5511987650002", "status": "pending"},
        ])
        async with database.session() as session:
            await session.execute(update(Campaign).where(Campaign.id == campaign).values(rate_per_second=1))
        finish = (await listed(client, org))[campaign]["progress"]["estimated_finish"]
        # Two messages at a second each, but one waits five hours for its send window.
        assert _time(finish) == due

    async def test_a_scheduled_campaign_finishes_its_audience_at_its_pace_after_its_start(
        self, client: httpx.AsyncClient, database: Database, org: OrgHandle
    ) -> None:
        world = await make_world(database, org.id)
        await make_contacts(database, org_id=org.id, specs=[{"phone": f"+3361555{n:04d}", "tags": ["vip"]} for n in range(5)])
        created = await client.post("/api/v1/campaigns", json=world.campaign(), headers=org.auth)
        start_at = (utcnow() + timedelta(days=1)).replace(microsecond=0)
        scheduled = await client.post(f"/api/v1/campaigns/{created.json()['id']}/schedule", headers=org.auth,
                                      json={"start_at": start_at.isoformat(), "rate_per_hour": 3})
        assert scheduled.status_code == 200, scheduled.text

        figures = (await listed(client, org))[created.json()["id"]]["progress"]

        # Six eligible contacts (the world's vip and five more) at 3 an hour: two hours after the start.
        assert _time(figures["estimated_finish"]) == start_at + timedelta(hours=2)
        assert figures["targeted"] == 0 and figures["pace_per_minute"] is None

    async def test_a_draft_has_no_pace_and_no_finish(
        self, client: httpx.AsyncClient, database: Database, org: OrgHandle
    ) -> None:
        world = await make_world(database, org.id)
        created = (await client.post("/api/v1/campaigns", json=world.without("template"), headers=org.auth)).json()
        figures = (await listed(client, org))[created["id"]]["progress"]
        assert figures["status"] == "draft" and figures["estimated_finish"] is None and figures["pace_per_minute"] is None


class TestPace:
    async def test_the_pace_is_what_whatsapp_accepted_over_the_last_minutes_and_sets_the_finish(
        self, database: Database, org: OrgHandle
    ) -> None:
        campaign = await make_campaign(database, org_id=org.id)  # started at T0, no pace of its own
        phones = iter(f"+3362000{i:04d}" for i in range(100))
        specs = [{"phone": next(phones), "status": "pending"} for _ in range(10)]
        specs += [{"phone": next(phones), "status": "sent", "sent_at": at(400)} for _ in range(30)]
        specs += [{"phone": next(phones), "status": "sent", "sent_at": at(60)} for _ in range(50)]  # too long ago
        await add_messages(database, org_id=org.id, campaign_id=campaign, specs=specs)

        async with database.session() as session:
            figures = (await progress.progress_of(session, org_id=org.id, campaign_ids=[campaign], now=at(600)))[campaign]

        assert figures.pace_per_minute == 6.0  # 30 in the last five minutes
        assert figures.estimated_finish == at(700)  # 10 pending at 6 a minute
        async with database.session() as session:
            await session.execute(update(Campaign).where(Campaign.id == campaign).values(status="paused"))
            paused = (await progress.progress_of(session, org_id=org.id, campaign_ids=[campaign], now=at(600)))[campaign]
        assert paused.pace_per_minute == 6.0 and paused.estimated_finish is None  # a paused campaign does not finish

    async def test_a_campaign_started_within_the_window_is_paced_over_the_time_it_ran(
        self, database: Database, org: OrgHandle
    ) -> None:
        campaign = await make_campaign(database, org_id=org.id)
        async with database.session() as session:
            await session.execute(update(Campaign).where(Campaign.id == campaign).values(started_at=at(540)))
        phones = iter(f"+3362100{i:04d}" for i in range(100))
        await add_messages(database, org_id=org.id, campaign_id=campaign,
                           specs=[{"phone": next(phones), "status": "sent", "sent_at": at(560)} for _ in range(20)])
        async with database.session() as session:
            figures = (await progress.progress_of(session, org_id=org.id, campaign_ids=[campaign], now=at(600)))[campaign]
        assert figures.pace_per_minute == 20.0  # 20 in its one minute, not 4 a minute over five


def _time(value: str) -> Any:
    from datetime import datetime

    return datetime.fromisoformat(value.replace("Z", "+00:00"))
