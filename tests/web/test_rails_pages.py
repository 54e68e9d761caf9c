"""Rails against mistakes and small truths in the pages (issue 22): the launch confirmations say whom
and how fast, Ready to Launch holds now, a Draft does not say it can start, tests say how long they
hold their contacts, an unnamed draft is "Untitled campaign", counts agree with their nouns, a favicon."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import update

from herald.auth.principal import Role
from herald.kit.db import Database
from herald.kit.types import utcnow
from herald.models import Template
from tests.conftest import OrgHandle
from tests.factories import WORLD_VIP_PHONE, make_contact, make_world
from tests.web.conftest import Browser
from tests.web.helpers import csrf_of

BASE = "/api/v1/campaigns"


async def create(client: httpx.AsyncClient, org: OrgHandle, body: dict[str, Any]) -> dict[str, Any]:
    response = await client.post(BASE, json=body, headers=org.auth)
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def row_of(page: str, campaign_id: int) -> str:
    match = re.search(rf'<tr data-campaign="{campaign_id}">(.*?)</tr>', page, re.S)
    assert match, f"campaign {campaign_id} is not listed"
    return html.unescape(match.group(1))


def confirm_of(fragment: str, action: str) -> str:
    match = re.search(rf'action="{re.escape(action)}"[^>]*data-confirm="([^"]*)"', fragment)
    assert match, f"no confirmation on {action}"
    return html.unescape(match.group(1))


class TestLaunchConfirmations:
    async def test_start_now_asks_with_the_count_the_pace_and_the_time_it_takes(
        self, browser: Browser, client: httpx.AsyncClient, database: Database, org: OrgHandle
    ) -> None:
        world = await make_world(database, org.id)
        for n in range(2, 61):  # 60 vip contacts with the world's own: 3 s at 20/s
            await make_contact(database, org_id=org.id, phone=f"+3361{n:07d}", tags=["vip"])
        campaign = await create(client, org, world.campaign())
        editor = await browser(Role.editor)
        page = (await editor.get("/ui/campaigns")).text
        question = confirm_of(page, f"/ui/campaigns/{campaign['id']}/start")
        assert question == "Start “Spring sale” now: send to 60 contacts at 20/s, less than a minute?"

    async def test_the_schedule_form_asks_with_its_date_pace_and_duration_in_agreeing_words(
        self, browser: Browser, client: httpx.AsyncClient, database: Database, org: OrgHandle
    ) -> None:
        world = await make_world(database, org.id)
        campaign = await create(client, org, world.campaign())
        editor = await browser(Role.editor)
        estimate = await editor.get(f"/ui/campaigns/{campaign['id']}/schedule/estimate",
                                    params={"day": "2031-03-04", "clock": "09:00", "timezone": "Europe/Paris",
                                            "rate_per_hour": 60})
        text = html.unescape(estimate.text)
        assert "1 eligible contact at 60/hour: about 1 minute, estimated finish" in text
        assert "1 minutes" not in text and "1 eligible contacts" not in text
        assert ('data-confirm="Schedule “Spring sale” for 2031-03-04 09:00 (Europe/Paris): send to 1 contact at '
                '60/hour, about 1 minute?"') in text


class TestReadyMeansReadyNow:
    async def test_a_campaign_whose_template_is_gone_is_listed_as_draft_with_what_is_missing_and_no_start(
        self, browser: Browser, client: httpx.AsyncClient, database: Database, org: OrgHandle
    ) -> None:
        world = await make_world(database, org.id)
        campaign = await create(client, org, world.campaign())
        async with database.session() as session:
            await session.execute(update(Template).values(removed_at=utcnow()))
        viewer = await browser(Role.viewer)
        row = row_of((await viewer.get("/ui/campaigns")).text, campaign["id"])
        assert "Draft" in row and "Ready to Launch" not in row
        assert "Missing: Template" in row
        editor = await browser(Role.editor)
        assert "/start" not in row_of((await editor.get("/ui/campaigns")).text, campaign["id"])

    async def test_an_audience_of_nobody_is_a_draft_the_review_explains_and_start_is_refused(
        self, browser: Browser, client: httpx.AsyncClient, database: Database, org: OrgHandle
    ) -> None:
        world = await make_world(database, org.id)
        await make_contact(database, org_id=org.id, phone="+14155552671", tags=["gold"], opted_out=True)
        campaign = await create(client, org, world.campaign(audience={"tags_any": ["gold"]}))
        editor = await browser(Role.editor)
        review = html.unescape((await editor.get(f"/ui/campaigns/{campaign['id']}/edit/review")).text)
        assert (f'<a href="/ui/campaigns/{campaign["id"]}/edit/audience">Someone to send to</a>: none of the '
                "audience's 1 contact can be messaged now (1 contact opted out of marketing)") in review
        assert "Saved as Draft: fill in what is missing above to make it Ready to Launch." in review
        assert "Start or schedule it" not in review
        refused = await editor.post(f"/ui/campaigns/{campaign['id']}/start", data={"csrf_token": csrf_of(review)})
        assert refused.status_code == 303
        after = html.unescape((await editor.get(refused.headers["location"])).text)
        assert "Nobody to send to: none of the audience's 1 contact can be messaged now" in after
        tomorrow = (datetime.now(UTC) + timedelta(days=1)).date().isoformat()
        form = {"csrf_token": csrf_of(review), "day": tomorrow, "clock": "09:00", "timezone": "UTC",
                "rate_per_hour": "100"}
        scheduled = await editor.post(f"/ui/campaigns/{campaign['id']}/schedule", data=form)
        assert scheduled.status_code == 422
        assert "Nobody to send to: none of the audience's 1 contact can be messaged now" in html.unescape(scheduled.text)


class TestSmallTruths:
    async def test_the_test_form_says_how_long_testers_stay_engaged(
        self, browser: Browser, client: httpx.AsyncClient, database: Database, org: OrgHandle
    ) -> None:
        world = await make_world(database, org.id)
        campaign = await create(client, org, world.campaign())
        editor = await browser(Role.editor)
        review = (await editor.get(f"/ui/campaigns/{campaign['id']}/edit/review")).text
        assert ("until it ends: 1 hour after its last message, or as soon as this campaign is started or "
                "scheduled.") in review
        sent = await editor.post(f"/ui/campaigns/{campaign['id']}/test",
                                 data={"csrf_token": csrf_of(review), "phones": WORLD_VIP_PHONE})
        assert sent.status_code == 303
        flash = html.unescape((await editor.get(sent.headers["location"])).text)
        assert re.search(r"Test sent to 1 contact: “Spring sale \(test \d\d:\d\d UTC\)”", flash)

    async def test_an_unnamed_draft_is_untitled_in_the_list_the_wizard_and_the_delete_flash(
        self, browser: Browser, client: httpx.AsyncClient, database: Database, org: OrgHandle
    ) -> None:
        campaign = await create(client, org, {})
        editor = await browser(Role.editor)
        page = (await editor.get("/ui/campaigns")).text
        row = row_of(page, campaign["id"])
        assert "Untitled campaign" in row
        assert confirm_of(row, f"/ui/campaigns/{campaign['id']}/delete") == (
            "Delete “Untitled campaign” for good, with its report?")
        assert "<h1>Untitled campaign" in (await editor.get(f"/ui/campaigns/{campaign['id']}/edit/basics")).text
        deleted = await editor.post(f"/ui/campaigns/{campaign['id']}/delete", data={"csrf_token": csrf_of(page)})
        flash = html.unescape((await editor.get(deleted.headers["location"])).text)
        assert "Campaign “Untitled campaign” deleted." in flash

    async def test_every_page_links_the_favicon_which_is_served(self, client: httpx.AsyncClient) -> None:
        login = (await client.get("/ui/login")).text
        match = re.search(r'<link rel="icon" type="image/svg\+xml" href="([^"]+)">', login)
        assert match
        icon = await client.get(match.group(1))
        assert icon.status_code == 200
        assert icon.headers["content-type"].startswith("image/svg+xml")
        assert icon.text.lstrip().startswith("<svg")
