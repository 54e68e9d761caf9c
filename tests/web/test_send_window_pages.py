"""The send window on the pages: the fieldset of the campaign's first step, the stats page's note and
its waiting line, the schedule estimate's sentence (campaigns/send_window.py)."""

from __future__ import annotations

import html
from datetime import date, timedelta

from sqlalchemy import select, update

from herald.auth.principal import Role
from herald.kit.db import Database
from herald.kit.types import utcnow
from herald.models import Campaign
from tests.conftest import OrgHandle
from tests.factories import make_world
from tests.reports.helpers import add_messages, make_campaign
from tests.web.conftest import Browser
from tests.web.helpers import csrf_of
from tests.web.test_access import ready_campaign

WEEKDAYS = ["mon", "tue", "wed", "thu", "fri"]


async def stored(database: Database, name: str) -> Campaign:
    async with database.read_session() as session:
        return (await session.execute(select(Campaign).where(Campaign.name == name))).scalar_one()


class TestFieldset:
    async def test_an_editor_sets_a_window_and_a_wrong_one_is_shown_as_typed(
        self, browser: Browser, database: Database, org: OrgHandle
    ) -> None:
        world = await make_world(database, org.id)
        editor = await browser(Role.editor)
        page = await editor.get("/ui/campaigns/new")
        assert 'id="send-window"' in page.text and 'name="window_start"' in page.text
        created = await editor.post("/ui/campaigns/new", data={
            "csrf_token": csrf_of(page.text), "name": "Local", "whatsapp_number_id": str(world.number_id),
            "window_start": "10:00", "window_end": "20:00", "window_weekdays": WEEKDAYS, "window_end_action": "end"})
        assert created.status_code == 303, created.text
        campaign = await stored(database, "Local")
        assert (campaign.window_start, campaign.window_end, campaign.window_weekdays, campaign.window_end_action) == (
            "10:00", "20:00", WEEKDAYS, "end")

        review = html.unescape((await editor.get(f"/ui/campaigns/{campaign.id}/edit/review")).text)
        assert "10:00–20:00 (mon, tue, wed, thu, fri) in each contact's local time; ends when" in review
        step = await editor.get(f"/ui/campaigns/{campaign.id}/edit/basics")
        assert 'value="sat"' in step.text and 'value="sat" checked' not in step.text and 'value="mon" checked' in step.text
        refused = await editor.post(f"/ui/campaigns/{campaign.id}/edit/basics", data={
            "csrf_token": csrf_of(step.text), "name": "Local", "whatsapp_number_id": str(world.number_id),
            "window_start": "09:30", "window_end": "", "window_weekdays": ["sat"]})
        assert refused.status_code == 422
        text = html.unescape(refused.text)
        assert 'value="09:30"' in text and 'id="window_end-error"' in text
        assert 'value="sat" checked' in text and 'value="mon" checked' not in text  # as typed
        none_ticked = await editor.post(f"/ui/campaigns/{campaign.id}/edit/basics", data={
            "csrf_token": csrf_of(step.text), "name": "Local", "whatsapp_number_id": str(world.number_id),
            "window_start": "09:30", "window_end": "18:00"})
        assert none_ticked.status_code == 422 and 'id="window_weekdays-error"' in none_ticked.text
        assert (await stored(database, "Local")).window_start == "10:00"

        cleared = await editor.post(f"/ui/campaigns/{campaign.id}/edit/basics", data={
            "csrf_token": csrf_of(step.text), "name": "Local", "whatsapp_number_id": str(world.number_id),
            "window_start": "", "window_end": "", "window_weekdays": WEEKDAYS})
        assert cleared.status_code == 303
        assert (await stored(database, "Local")).window_start is None


class TestStatsAndSchedule:
    async def test_the_stats_page_shows_the_window_and_who_waits_for_it(
        self, browser: Browser, database: Database, org: OrgHandle
    ) -> None:
        campaign = await make_campaign(database, org_id=org.id)
        async with database.session() as session:
            await session.execute(update(Campaign).where(Campaign.id == campaign).values(
                window_start="10:00", window_end="20:00", window_weekdays=WEEKDAYS))
        await add_messages(database, org_id=org.id, campaign_id=campaign, specs=[
            {"phone": f"+551198765432{n}", "status": "pending", "wait_reason": "waiting for 10:00 America/Sao_Paulo",
             "next_attempt_at": utcnow() + timedelta(hours=3)} for n in range(2)])
        page = await (await browser(Role.viewer)).get(f"/ui/campaigns/{campaign}/stats")
        text = html.unescape(page.text)
        assert "Send window 10:00–20:00 (mon, tue, wed, thu, fri) in each contact's local time" in text
        assert "2 waiting: waiting for 10:00 America/Sao_Paulo; next send at" in text

    async def test_the_schedule_estimate_counts_contacts_outside_their_window(
        self, browser: Browser, database: Database, org: OrgHandle
    ) -> None:
        campaign = await ready_campaign(database, org.id)
        async with database.session() as session:
            await session.execute(update(Campaign).where(Campaign.id == campaign).values(
                window_start="10:00", window_end="11:00", window_weekdays=None))
        editor = await browser(Role.editor)
        tomorrow = (date.today() + timedelta(days=1)).isoformat()
        estimate = await editor.get(f"/ui/campaigns/{campaign}/schedule/estimate", params={
            "day": tomorrow, "clock": "10:00", "timezone": "Europe/Paris", "rate_per_hour": "1"})
        text = html.unescape(estimate.text)
        assert "Send window 10:00–11:00, in each contact's local time" in text
        assert "Europe/Paris (1," in text  # the world's one contact, +33
