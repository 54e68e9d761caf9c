from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import func, select, update

from herald.campaigns.launch import MATERIALIZE_JOB
from herald.kit.db import Database
from herald.models import Campaign, Engagement, Job, Template
from tests.campaigns.conftest import BASE, act, create, error_fields
from tests.conftest import OrgHandle
from tests.factories import World, engage, make_contact, make_media, make_number


def in_an_hour() -> str:
    return (datetime.now(UTC) + timedelta(hours=1)).isoformat()


async def materialize_jobs(database: Database, campaign_id: int) -> int:
    async with database.session() as session:
        count = await session.scalar(
            select(func.count()).where(Job.kind == MATERIALIZE_JOB, Job.payload["campaign_id"].as_integer() == campaign_id)
        )
    return int(count or 0)


def assert_invalid_transition(response: httpx.Response, status: str) -> None:
    assert response.status_code == 409, response.text
    error: dict[str, Any] = response.json()["error"]
    assert error["code"] == "invalid_transition"
    assert error["details"]["status"] == status


class TestStart:
    async def test_ready_campaign_starts_and_is_launched(
        self, client: httpx.AsyncClient, org: OrgHandle, world: World, database: Database
    ) -> None:
        campaign = await create(client, org, world.campaign())
        response = await act(client, org, campaign["id"], "start")
        assert response.status_code == 200
        started = response.json()
        assert started["status"] == "active"
        assert started["rate_per_second"] == 20
        assert started["started_at"] is not None
        assert await materialize_jobs(database, campaign["id"]) == 1

    async def test_rate_is_bounded_by_the_numbers_throughput(
        self, client: httpx.AsyncClient, org: OrgHandle, world: World
    ) -> None:
        campaign = await create(client, org, world.campaign())
        response = await act(client, org, campaign["id"], "start", rate_per_second=81)
        assert response.status_code == 422
        assert error_fields(response) == ["rate_per_second"]
        assert (await act(client, org, campaign["id"], "start", rate_per_second=80)).json()["rate_per_second"] == 80

    async def test_draft_cannot_start(self, client: httpx.AsyncClient, org: OrgHandle, world: World) -> None:
        campaign = await create(client, org, world.without("audience"))
        assert_invalid_transition(await act(client, org, campaign["id"], "start"), "draft")

    async def test_template_disabled_since_saving_blocks_the_start(
        self, client: httpx.AsyncClient, org: OrgHandle, world: World, database: Database
    ) -> None:
        campaign = await create(client, org, world.campaign())
        async with database.session() as session:
            await session.execute(update(Template).values(usable=False, reason="template is PAUSED by Meta"))
        response = await act(client, org, campaign["id"], "start")
        assert response.status_code == 422
        assert error_fields(response) == ["template"]

    async def test_two_concurrent_starts_have_one_winner(
        self, client: httpx.AsyncClient, org: OrgHandle, world: World, database: Database
    ) -> None:
        campaign = await create(client, org, world.campaign())
        responses = await asyncio.gather(
            act(client, org, campaign["id"], "start"), act(client, org, campaign["id"], "start")
        )
        assert sorted(r.status_code for r in responses) == [200, 409]
        loser = next(r for r in responses if r.status_code == 409)
        assert_invalid_transition(loser, "active")
        assert await materialize_jobs(database, campaign["id"]) == 1


class TestSchedule:
    async def test_ready_campaign_is_scheduled_with_an_hourly_pace(
        self, client: httpx.AsyncClient, org: OrgHandle, world: World
    ) -> None:
        campaign = await create(client, org, world.campaign())
        start_at = (datetime.now(UTC) + timedelta(days=1)).astimezone(UTC).replace(microsecond=0)
        local = start_at.astimezone(datetime.now().astimezone().tzinfo).isoformat()
        response = await act(client, org, campaign["id"], "schedule", start_at=local, rate_per_hour=1000)
        assert response.status_code == 200, response.text
        scheduled = response.json()
        assert scheduled["status"] == "scheduled"
        assert datetime.fromisoformat(scheduled["start_at"]) == start_at
        assert scheduled["rate_per_hour"] == 1000

    async def test_naive_past_and_too_fast_are_refused(
        self, client: httpx.AsyncClient, org: OrgHandle, world: World
    ) -> None:
        cid = (await create(client, org, world.campaign()))["id"]
        naive = datetime.now() + timedelta(hours=1)
        cases = [
            ({"start_at": naive.isoformat(), "rate_per_hour": 100}, "start_at"),
            ({"start_at": (datetime.now(UTC) - timedelta(minutes=1)).isoformat(), "rate_per_hour": 100}, "start_at"),
            ({"start_at": in_an_hour(), "rate_per_hour": 80 * 3600 + 1}, "rate_per_hour"),
            ({"start_at": in_an_hour(), "rate_per_hour": 0}, "rate_per_hour"),
        ]
        for body, field in cases:
            response = await act(client, org, cid, "schedule", **body)
            assert response.status_code == 422, body
            assert error_fields(response) == [field]

    async def test_unschedule_returns_to_ready(self, client: httpx.AsyncClient, org: OrgHandle, world: World) -> None:
        cid = (await create(client, org, world.campaign()))["id"]
        await act(client, org, cid, "schedule", start_at=in_an_hour(), rate_per_hour=100)
        response = await act(client, org, cid, "unschedule")
        assert response.json()["status"] == "ready"
        assert response.json()["start_at"] is None
        assert_invalid_transition(await act(client, org, cid, "unschedule"), "ready")

    async def test_scheduled_campaign_can_be_deleted(self, client: httpx.AsyncClient, org: OrgHandle, world: World) -> None:
        cid = (await create(client, org, world.campaign()))["id"]
        await act(client, org, cid, "schedule", start_at=in_an_hour(), rate_per_hour=100)
        assert (await client.delete(f"{BASE}/{cid}", headers=org.auth)).status_code == 204


class TestPauseResumeEnd:
    async def test_pause_and_resume_without_relaunching(
        self, client: httpx.AsyncClient, org: OrgHandle, world: World, database: Database
    ) -> None:
        cid = (await create(client, org, world.campaign()))["id"]
        started = (await act(client, org, cid, "start")).json()
        paused = await act(client, org, cid, "pause")
        assert paused.json()["status"] == "paused"
        resumed = (await act(client, org, cid, "resume")).json()
        assert resumed["status"] == "active"
        assert resumed["started_at"] == started["started_at"]
        assert resumed["status_reason"] is None
        assert await materialize_jobs(database, cid) == 1

    async def test_end_releases_engaged_contacts(
        self, client: httpx.AsyncClient, org: OrgHandle, world: World, database: Database
    ) -> None:
        cid = (await create(client, org, world.campaign()))["id"]
        await act(client, org, cid, "start")
        contact_id = await make_contact(database, org_id=org.id, phone="+14155552671", tags=["vip"])
        await engage(database, contact_id=contact_id, campaign_id=cid)
        ended = (await act(client, org, cid, "end")).json()
        assert ended["status"] == "ended"
        assert ended["ended_at"] is not None
        assert ended["status_reason"] == "ended by user"
        async with database.session() as session:
            assert await session.scalar(select(func.count()).select_from(Engagement)) == 0

    async def test_paused_and_scheduled_campaigns_can_end(
        self, client: httpx.AsyncClient, org: OrgHandle, world: World
    ) -> None:
        paused = (await create(client, org, world.campaign()))["id"]
        await act(client, org, paused, "start")
        await act(client, org, paused, "pause")
        scheduled = (await create(client, org, world.campaign()))["id"]
        await act(client, org, scheduled, "schedule", start_at=in_an_hour(), rate_per_hour=100)
        for cid in (paused, scheduled):
            assert (await act(client, org, cid, "end")).json()["status"] == "ended"

    async def test_illegal_transitions_answer_409_with_the_current_status(
        self, client: httpx.AsyncClient, org: OrgHandle, world: World
    ) -> None:
        draft = (await create(client, org, world.without("audience")))["id"]
        ready = (await create(client, org, world.campaign()))["id"]
        active = (await create(client, org, world.campaign()))["id"]
        await act(client, org, active, "start")
        ended = (await create(client, org, world.campaign()))["id"]
        await act(client, org, ended, "start")
        await act(client, org, ended, "end")
        illegal = {
            draft: ("start", "pause", "resume", "end", "unschedule"),
            ready: ("pause", "resume", "end", "unschedule"),
            active: ("start", "resume", "unschedule"),
            ended: ("start", "pause", "resume", "end", "unschedule"),
        }
        status = {draft: "draft", ready: "ready", active: "active", ended: "ended"}
        for cid, actions in illegal.items():
            for action in actions:
                assert_invalid_transition(await act(client, org, cid, action), status[cid])
        schedule = {"start_at": in_an_hour(), "rate_per_hour": 10}
        for cid in (draft, active, ended):
            assert_invalid_transition(await act(client, org, cid, "schedule", **schedule), status[cid])


class TestSendTest:
    async def test_unknown_phone_is_named(
        self, client: httpx.AsyncClient, org: OrgHandle, world: World, database: Database
    ) -> None:
        await make_contact(database, org_id=org.id, phone="+14155552671")
        cid = (await create(client, org, world.campaign()))["id"]
        response = await act(client, org, cid, "test", phones=["+1 415 555 2671", "+14155552672", "12"])
        assert response.status_code == 422
        assert error_fields(response) == ["phones.1", "phones.2"]
        assert "+14155552672" in response.json()["error"]["message"]

    async def test_known_phones_get_a_launched_test_campaign(
        self, client: httpx.AsyncClient, org: OrgHandle, world: World, database: Database
    ) -> None:
        first = await make_contact(database, org_id=org.id, phone="+14155552671")
        second = await make_contact(database, org_id=org.id, phone="+5511987654321")
        parent = await create(client, org, world.without("audience"))
        assert parent["missing"] == ["audience"]
        response = await act(client, org, parent["id"], "test", phones=["14155552671", "+55 11 98765-4321"])
        assert response.status_code == 201, response.text
        test = response.json()
        assert (test["kind"], test["parent_id"], test["status"]) == ("test", parent["id"], "active")
        assert test["audience"] is None
        assert test["auto_end_after_hours"] == 1
        assert test["rate_per_second"] == 20
        assert test["started_at"] is not None
        assert test["template"] == parent["template"] and test["variables"] == parent["variables"]
        assert await materialize_jobs(database, test["id"]) == 1
        async with database.session() as session:
            row = await session.get(Campaign, test["id"])
            assert row is not None and row.test_contact_ids == [first, second]

    async def test_rate_of_a_test_never_exceeds_the_throughput(
        self, client: httpx.AsyncClient, org: OrgHandle, world: World, database: Database
    ) -> None:
        slow = await make_number(database, org_id=org.id, throughput_mps=5)
        media = await make_media(database, org_id=org.id, number_id=slow)
        await make_contact(database, org_id=org.id, phone="+14155552671")
        cid = (await create(client, org, world.campaign(whatsapp_number_id=slow, header_media_id=media)))["id"]
        assert (await act(client, org, cid, "test", phones=["+14155552671"])).json()["rate_per_second"] == 5

    async def test_incomplete_campaign_cannot_be_tested(
        self, client: httpx.AsyncClient, org: OrgHandle, world: World, database: Database
    ) -> None:
        await make_contact(database, org_id=org.id, phone="+14155552671")
        cid = (await create(client, org, world.without("bot_flow_id")))["id"]
        response = await act(client, org, cid, "test", phones=["+14155552671"])
        assert response.status_code == 422
        assert error_fields(response) == ["bot_flow_id"]

    async def test_running_campaign_cannot_be_tested(
        self, client: httpx.AsyncClient, org: OrgHandle, world: World, database: Database
    ) -> None:
        await make_contact(database, org_id=org.id, phone="+14155552671")
        cid = (await create(client, org, world.campaign()))["id"]
        await act(client, org, cid, "start")
        response = await act(client, org, cid, "test", phones=["+14155552671"])
        assert response.status_code == 409
        assert response.json()["error"]["details"]["status"] == "active"
