"""Rails against mistakes (issue 22): no launch to nobody, tests that give their contacts back, ready
means ready now, ids never reused."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import select, update

from herald.campaigns.bindings import NO_ELIGIBLE
from herald.dispatch.materialize import materialize_job
from herald.kit.db import Database
from herald.kit.types import utcnow
from herald.models import CampaignMessage, Engagement, Template
from tests.campaigns.conftest import BASE, act, create
from tests.conftest import OrgHandle
from tests.factories import WORLD_VIP_PHONE, World, engage, make_contact


def in_an_hour() -> str:
    return (datetime.now(UTC) + timedelta(hours=1)).isoformat()


def gold(world: World) -> dict[str, Any]:
    return world.campaign(name="Gold members", audience={"tags_any": ["gold"]})


async def get(client: httpx.AsyncClient, org: OrgHandle, campaign_id: int) -> dict[str, Any]:
    response = await client.get(f"{BASE}/{campaign_id}", headers=org.auth)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


async def listed(client: httpx.AsyncClient, org: OrgHandle, campaign_id: int) -> dict[str, Any]:
    items = (await client.get(BASE, headers=org.auth)).json()["items"]
    return next(c for c in items if c["id"] == campaign_id)


class TestNoLaunchToNobody:
    async def test_an_audience_of_nobody_eligible_is_a_draft_that_says_why_and_cannot_start_or_schedule(
        self, client: httpx.AsyncClient, org: OrgHandle, world: World, database: Database
    ) -> None:
        await make_contact(database, org_id=org.id, phone="+14155552671", tags=["gold"], opted_out=True)
        campaign = await create(client, org, gold(world))
        assert (campaign["status"], campaign["missing"]) == ("draft", [NO_ELIGIBLE])

        for action, body in (("start", {}), ("schedule", {"start_at": in_an_hour(), "rate_per_hour": 100})):
            response = await act(client, org, campaign["id"], action, **body)
            assert response.status_code == 409, (action, response.text)
            error = response.json()["error"]
            assert error["code"] == "no_eligible_contacts"
            assert "1 contact opted out of marketing" in error["message"]
            assert (error["details"]["matched"], error["details"]["eligible"]) == (1, 0)
        assert (await get(client, org, campaign["id"]))["status"] == "draft"

    async def test_a_segment_matching_no_contact_says_so(
        self, client: httpx.AsyncClient, org: OrgHandle, world: World
    ) -> None:
        campaign = await create(client, org, gold(world))
        response = await act(client, org, campaign["id"], "start")
        assert response.status_code == 409
        assert response.json()["error"]["message"] == "nobody to send to: no contact matches the audience"

    async def test_once_someone_can_be_messaged_it_is_ready_and_starts(
        self, client: httpx.AsyncClient, org: OrgHandle, world: World, database: Database
    ) -> None:
        campaign = await create(client, org, gold(world))
        assert campaign["status"] == "draft"
        await make_contact(database, org_id=org.id, phone="+14155552672", tags=["gold"])
        assert (await get(client, org, campaign["id"]))["status"] == "ready"
        response = await act(client, org, campaign["id"], "start")
        assert response.status_code == 200, response.text
        assert response.json()["status"] == "active"


class TestReadyMeansReadyNow:
    async def test_a_ready_campaign_whose_template_meta_removed_is_shown_as_draft_with_the_template_missing(
        self, client: httpx.AsyncClient, org: OrgHandle, world: World, database: Database
    ) -> None:
        campaign = await create(client, org, world.campaign())
        assert campaign["status"] == "ready"
        async with database.session() as session:
            await session.execute(update(Template).values(removed_at=utcnow()))
        for shown in (await listed(client, org, campaign["id"]), await get(client, org, campaign["id"])):
            assert (shown["status"], shown["missing"]) == ("draft", ["template"])

    async def test_a_ready_campaign_whose_audience_was_taken_by_another_campaign_is_a_draft(
        self, client: httpx.AsyncClient, org: OrgHandle, world: World, database: Database
    ) -> None:
        campaign = await create(client, org, world.campaign())
        other = await create(client, org, world.campaign(name="Other", audience={"tags_any": ["other"]}))
        await engage(database, contact_id=world.ids["vip"], campaign_id=other["id"])
        shown = await listed(client, org, campaign["id"])
        assert (shown["status"], shown["missing"]) == ("draft", [NO_ELIGIBLE])


class TestTestsGiveTheirContactsBack:
    async def test_starting_ends_the_campaigns_tests_and_its_testers_are_messaged_by_the_real_launch(
        self, client: httpx.AsyncClient, org: OrgHandle, world: World, database: Database
    ) -> None:
        campaign = await create(client, org, world.campaign())
        test = (await act(client, org, campaign["id"], "test", phones=[WORLD_VIP_PHONE])).json()
        await materialize_job(database, {"campaign_id": test["id"]})
        # The tester is engaged by the test, yet the campaign stays ready: starting frees it.
        assert (await get(client, org, campaign["id"]))["status"] == "ready"

        response = await act(client, org, campaign["id"], "start")
        assert response.status_code == 200, response.text
        ended = await get(client, org, test["id"])
        assert (ended["status"], ended["status_reason"]) == ("ended", "ended: its campaign was started")
        await materialize_job(database, {"campaign_id": campaign["id"]})
        async with database.session() as session:
            engaged = await session.scalar(select(Engagement.campaign_id).where(Engagement.contact_id == world.ids["vip"]))
            message = (await session.execute(select(CampaignMessage).where(
                CampaignMessage.campaign_id == campaign["id"]))).scalar_one()
        assert engaged == campaign["id"]
        assert (message.contact_id, message.status, message.error_msg) == (world.ids["vip"], "pending", None)

    async def test_scheduling_ends_the_tests_too(
        self, client: httpx.AsyncClient, org: OrgHandle, world: World, database: Database
    ) -> None:
        campaign = await create(client, org, world.campaign())
        test = (await act(client, org, campaign["id"], "test", phones=[WORLD_VIP_PHONE])).json()
        await materialize_job(database, {"campaign_id": test["id"]})
        response = await act(client, org, campaign["id"], "schedule", start_at=in_an_hour(), rate_per_hour=100)
        assert response.status_code == 200, response.text
        assert (await get(client, org, test["id"]))["status"] == "ended"
        async with database.session() as session:
            assert await session.scalar(select(Engagement.campaign_id).where(Engagement.contact_id == world.ids["vip"])) is None
            message = (await session.execute(select(CampaignMessage).where(
                CampaignMessage.campaign_id == test["id"]))).scalar_one()
        assert (message.status, message.error_msg) == ("not_sent", "campaign ended")
        stats = (await client.get(f"{BASE}/{test['id']}/stats", headers=org.auth)).json()
        assert (stats["pending"], stats["not_sent"]) == (0, 1)

    async def test_each_test_is_named_with_its_time(
        self, client: httpx.AsyncClient, org: OrgHandle, world: World
    ) -> None:
        campaign = await create(client, org, world.campaign())
        before = datetime.now(UTC)
        test = (await act(client, org, campaign["id"], "test", phones=[WORLD_VIP_PHONE])).json()
        after = datetime.now(UTC)
        match = re.fullmatch(r"Spring sale \(test (\d\d:\d\d) UTC\)", test["name"])
        assert match is not None, test["name"]
        assert match.group(1) in {f"{before:%H:%M}", f"{after:%H:%M}"}


class TestIdsAreNeverReused:
    async def test_a_deleted_campaigns_id_is_not_given_to_the_next_one(
        self, client: httpx.AsyncClient, org: OrgHandle, world: World
    ) -> None:
        first = await create(client, org, world.campaign())
        newest = await create(client, org, world.campaign())
        assert (await client.delete(f"{BASE}/{newest['id']}", headers=org.auth)).status_code == 204
        following = await create(client, org, world.campaign())
        assert following["id"] > newest["id"] > first["id"]
