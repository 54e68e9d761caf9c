"""The campaigns list shows each campaign's progress and keeps it live over SSE; the stats page shows the
bot's funnel and links each number to its contacts; the contacts page filters them and exports the subset."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import Any
from urllib.parse import quote

import httpx
from sqlalchemy import update

from herald.auth.principal import Role
from herald.kit.db import Database
from herald.kit.types import utcnow
from herald.models import Campaign
from tests.conftest import OrgHandle
from tests.factories import make_world
from tests.reports.helpers import add_messages, make_campaign
from tests.reports.test_drilldown import campaign_with_steps
from tests.reports.test_stats import OPEN_CASE, mixed_specs
from tests.web.conftest import Browser
from tests.web.test_rails_pages import row_of


def events(body: str) -> list[tuple[str, Any]]:
    found = re.findall(r"event: (\w+)\r?\ndata: (.*?)\r?\n", body)
    return [(name, json.loads(data)) for name, data in found]


class TestCampaignListProgress:
    async def test_a_running_campaigns_row_shows_its_figures_bar_pace_and_finish(
        self, browser: Browser, database: Database, org: OrgHandle
    ) -> None:
        campaign = await make_campaign(database, org_id=org.id, name="Spring")
        await add_messages(database, org_id=org.id, campaign_id=campaign, specs=mixed_specs())
        async with database.session() as session:
            await session.execute(update(Campaign).where(Campaign.id == campaign).values(rate_per_second=1))
        viewer = await browser(Role.viewer)
        row = row_of((await viewer.get("/ui/campaigns")).text, campaign)
        cells = dict(re.findall(r'data-progress="(\w+)"[^>]*>([^<]*)<', row))
        assert cells == {"targeted": "15", "sent": "8", "received_pct": "75%", "read_pct": "50%",
                         "replied_pct": "33.3%", "not_sent": "3", "done_pct": "80%", "pace_per_minute": "0/min",
                         "estimated_finish": cells["estimated_finish"]}
        assert cells["estimated_finish"].endswith("UTC")  # 3 pending at 60 a minute
        assert 'value="80.0" data-progress-bar aria-label="Progress of Spring"' in row
        assert "data-live" in row

    async def test_a_draft_row_shows_no_figures(self, browser: Browser, database: Database, org: OrgHandle) -> None:
        async with database.session() as session:
            draft = Campaign(org_id=org.id, name="Later", status="draft", kind="real", missing=["audience"])
            session.add(draft)
            await session.flush()
            draft_id = draft.id
        row = row_of((await (await browser(Role.viewer)).get("/ui/campaigns")).text, draft_id)
        assert "data-progress=" not in row and "data-live" not in row

    async def test_a_scheduled_row_shows_its_estimated_finish_and_blank_counters_until_it_starts(
        self, browser: Browser, client: httpx.AsyncClient, database: Database, org: OrgHandle
    ) -> None:
        world = await make_world(database, org.id)
        created = (await client.post("/api/v1/campaigns", json=world.campaign(), headers=org.auth)).json()
        start_at = (utcnow() + timedelta(days=2)).replace(hour=9, minute=0, second=0, microsecond=0)
        scheduled = await client.post(f"/api/v1/campaigns/{created['id']}/schedule", headers=org.auth,
                                      json={"start_at": start_at.isoformat(), "rate_per_hour": 2})
        assert scheduled.status_code == 200, scheduled.text
        row = row_of((await (await browser(Role.viewer)).get("/ui/campaigns")).text, created["id"])
        assert re.findall(r'data-progress="(\w+)"[^>]*>—<', row) == [
            "targeted", "sent", "received_pct", "read_pct", "replied_pct", "not_sent", "pace_per_minute"]
        # The world's one vip at 2 an hour: half an hour after the start.
        finish = (start_at + timedelta(minutes=30)).strftime("%Y-%m-%d %H:%M UTC")
        assert re.search(rf'<div class="hint" data-progress-finish >finish ≈ <time [^>]*>{finish}</time>', row)
        assert re.search(r"<div data-progress-running hidden>", row) and "data-live" in row

    async def test_the_live_feed_sends_the_rows_progress_and_ends_once_nothing_is_live(
        self, browser: Browser, database: Database, org: OrgHandle, other_org: OrgHandle
    ) -> None:
        campaign = await make_campaign(database, org_id=org.id)
        await add_messages(database, org_id=org.id, campaign_id=campaign, specs=mixed_specs())
        theirs = await make_campaign(database, org_id=other_org.id)
        async with database.session() as session:
            await session.execute(update(Campaign).where(Campaign.id == campaign).values(status="ended"))
        viewer = await browser(Role.viewer)
        answer = await viewer.get("/ui/campaigns/progress", params=[("id", campaign), ("id", theirs)])
        assert answer.status_code == 200
        (name, figures), done = events(answer.text)
        assert name == "progress" and done[0] == "done"
        # Another organization's campaign is left out.
        assert [(f["campaign_id"], f["status"], f["sent"], f["done_pct"]) for f in figures] == [(campaign, "ended", 8, 80.0)]

    async def test_the_feed_takes_one_page_of_ids(self, browser: Browser, database: Database, org: OrgHandle) -> None:
        viewer = await browser(Role.viewer)
        too_many = await viewer.get("/ui/campaigns/progress", params=[("id", n) for n in range(1, 52)])
        none = await viewer.get("/ui/campaigns/progress")
        assert too_many.status_code == 422 and none.status_code == 422


class TestStatsDrillDown:
    async def test_the_stats_page_charts_the_bot_funnel_and_links_every_number_to_its_contacts(
        self, browser: Browser, database: Database, org: OrgHandle
    ) -> None:
        campaign, _ = await campaign_with_steps(database, org)
        page = (await (await browser(Role.viewer)).get(f"/ui/campaigns/{campaign}/stats")).text
        assert 'id="steps-chart"' in page
        steps = re.findall(r'<a href="/ui/campaigns/\d+/contacts\?step=(\w+)">\w+</a></td><td class="num">(\d+)', page)
        assert steps == [("offer_viewed", "2"), ("converted", "1")]
        initial = json.loads(re.search(r'id="stats-initial">(.*?)</script>', page).group(1))  # type: ignore[union-attr]
        assert initial["steps"] == [{"step": "offer_viewed", "contacts": 2}, {"step": "converted", "contacts": 1}]
        assert f'href="/ui/campaigns/{campaign}/contacts?reason={quote(OPEN_CASE)}">{OPEN_CASE}</a>' in page
        for outcome in ("targeted", "sent", "received", "read", "replied"):
            assert f'href="/ui/campaigns/{campaign}/contacts?outcome={outcome}"' in page
        # It sends (active): the progress section shows how far, how fast, when.
        assert re.search(r'<section class="card" id="progress-section" aria-labelledby="progress-title" >', page)
        assert '<span data-progress="done">12</span> of <span data-progress="targeted">15</span>' in page

    async def test_an_ended_campaign_hides_the_progress_section(
        self, browser: Browser, database: Database, org: OrgHandle
    ) -> None:
        campaign, _ = await campaign_with_steps(database, org)
        async with database.session() as session:
            await session.execute(update(Campaign).where(Campaign.id == campaign).values(status="ended"))
        page = (await (await browser(Role.viewer)).get(f"/ui/campaigns/{campaign}/stats")).text
        assert 'id="progress-section" aria-labelledby="progress-title" hidden>' in page

    async def test_the_contacts_page_lists_a_reasons_contacts_and_exports_them(
        self, browser: Browser, database: Database, org: OrgHandle
    ) -> None:
        campaign, ids = await campaign_with_steps(database, org)
        viewer = await browser(Role.viewer)
        page = await viewer.get(f"/ui/campaigns/{campaign}/contacts", params={"reason": OPEN_CASE})
        assert page.status_code == 200
        assert f"<strong>Not sent: {OPEN_CASE}</strong>: 2 contacts" in page.text
        assert re.findall(r'<a href="/ui/contacts/(\d+)">', page.text) == [str(i) for i in ids[12:14]]
        assert f'<option value="{OPEN_CASE}" selected>' in page.text
        export = re.search(r'id="export-subset" href="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
        csv = await viewer.get(export.replace("&amp;", "&"))
        assert csv.status_code == 200
        assert [line.split(",")[0] for line in csv.text.splitlines()[1:]] == [str(i) for i in ids[12:14]]

    async def test_the_contacts_page_says_what_is_wrong_with_a_filter(
        self, browser: Browser, database: Database, org: OrgHandle
    ) -> None:
        campaign, _ = await campaign_with_steps(database, org)
        answer = await (await browser(Role.viewer)).get(f"/ui/campaigns/{campaign}/contacts?outcome=<b>")
        assert answer.status_code == 422
        assert "<b>" not in answer.text and "outcome must be one of" in answer.text
