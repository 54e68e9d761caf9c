"""The quality circuit breaker on the pages: its thresholds in the wizard's first step (shown with the
defaults, saved, a bad value refused at its field and shown as typed), and its gauges on the stats page
(each rule's figure against its threshold, a tripped one marked)."""

from __future__ import annotations

import html

from sqlalchemy import update

from herald.auth.principal import Role
from herald.kit.db import Database
from herald.models import Campaign, CampaignStats
from tests.conftest import OrgHandle
from tests.web.conftest import Browser
from tests.web.helpers import csrf_of
from tests.web.test_access import ready_campaign

FORM = {"breaker.present": "1", "breaker.enabled": "on", "breaker.failure_rate": "5", "breaker.opt_out_rate": "",
        "breaker.block_signals": "12", "breaker.window": "400", "breaker.min_sends": "100",
        "breaker.number_quality": "on"}


async def breaker_of(database: Database, campaign_id: int) -> dict[str, object] | None:
    async with database.read_session() as session:
        row = await session.get(Campaign, campaign_id)
        assert row is not None
        return row.breaker


class TestWizard:
    async def test_the_first_step_shows_the_defaults_and_saves_the_thresholds(
        self, browser: Browser, database: Database, org: OrgHandle
    ) -> None:
        campaign_id = await ready_campaign(database, org.id)
        editor = await browser(Role.editor)
        page = (await editor.get(f"/ui/campaigns/{campaign_id}/edit/basics")).text
        assert 'id="quality-breaker"' in page
        assert 'name="breaker.failure_rate" type="number"' in page and 'value="10.0"' in page
        saved = await editor.post(f"/ui/campaigns/{campaign_id}/edit/basics", data={
            "csrf_token": csrf_of(page), "name": "Spring", **FORM})
        assert saved.status_code == 303, saved.text
        assert await breaker_of(database, campaign_id) == {
            "enabled": True, "window": 400, "min_sends": 100, "failure_rate": 5.0, "opt_out_rate": None,
            "block_signals": 12, "number_quality": True, "template_quality": False}
        page = (await editor.get(f"/ui/campaigns/{campaign_id}/edit/basics")).text
        assert 'id="breaker-opt_out_rate" name="breaker.opt_out_rate" type="number" min="0.1" max="100" step="0.1" value=""' in page

    async def test_a_bad_threshold_is_refused_at_its_field_as_typed(
        self, browser: Browser, database: Database, org: OrgHandle
    ) -> None:
        campaign_id = await ready_campaign(database, org.id)
        editor = await browser(Role.editor)
        page = (await editor.get(f"/ui/campaigns/{campaign_id}/edit/basics")).text
        refused = await editor.post(f"/ui/campaigns/{campaign_id}/edit/basics", data={
            "csrf_token": csrf_of(page), "name": "Spring", **FORM, "breaker.failure_rate": "<b>250</b>"})
        assert refused.status_code == 422
        assert 'id="breaker-failure_rate-error"' in refused.text
        assert 'value="&lt;b&gt;250&lt;/b&gt;"' in refused.text  # escaped
        assert '<details id="quality-breaker" open>' in refused.text
        assert await breaker_of(database, campaign_id) is None  # nothing saved


class TestStatsGauges:
    async def test_the_gauges_show_each_rate_against_its_threshold(
        self, browser: Browser, database: Database, org: OrgHandle
    ) -> None:
        campaign_id = await ready_campaign(database, org.id)
        reason = "quality breaker: 14 % of the last 200 sends failed (limit 10 %)"
        async with database.session() as session:
            await session.execute(update(Campaign).where(Campaign.id == campaign_id).values(
                status="paused", status_reason=reason))
            session.add(CampaignStats(campaign_id=campaign_id, targeted=500, pending=300, sent=172, received=0,
                                      read=0, replied=0, unknown=0, not_sent=28, quality_sends=200,
                                      quality_failures=28, quality_blocks=3, quality_opt_outs=1))
        page = (await (await browser(Role.viewer)).get(f"/ui/campaigns/{campaign_id}/stats")).text
        assert reason in html.unescape(page)
        assert 'id="breaker-section"' in page
        assert '<meter id="gauge-failure_rate-meter" min="0" max="10.0" value="10.0"' in page
        text = html.unescape(page)
        assert "14 % of 10 % limit — tripped" in text
        assert "0.5 % of 2 % limit" in text
        assert "3 of 20 limit" in text
        assert 'class="gauge gauge-tripped" data-gauge="failure_rate"' in page


class TestReview:
    async def test_the_review_says_what_pauses_the_campaign(
        self, browser: Browser, database: Database, org: OrgHandle
    ) -> None:
        campaign_id = await ready_campaign(database, org.id)
        page = (await (await browser(Role.viewer)).get(f"/ui/campaigns/{campaign_id}/edit/review")).text
        assert ("pauses it when, over the latest 200 sends (judged from 50), failures reach 10 %, opt-outs reach 2 %, "
                "20 block signals (131048/131049) come; or the number's quality drops to RED; or the template's "
                "quality drops to RED") in html.unescape(page)


class TestRunningCampaign:
    async def test_a_paused_campaigns_thresholds_are_changed_from_its_stats_page(
        self, browser: Browser, database: Database, org: OrgHandle
    ) -> None:
        campaign_id = await ready_campaign(database, org.id)
        async with database.session() as session:
            await session.execute(update(Campaign).where(Campaign.id == campaign_id).values(
                status="paused", status_reason="quality breaker: 14 % of the last 200 sends failed (limit 10 %)"))
        editor = await browser(Role.editor)
        page = (await editor.get(f"/ui/campaigns/{campaign_id}/stats")).text
        assert 'id="breaker-form"' in page
        back = {"referer": f"http://herald.test/ui/campaigns/{campaign_id}/stats"}
        refused = await editor.post(f"/ui/campaigns/{campaign_id}/breaker", headers=back, data={
            "csrf_token": csrf_of(page), **FORM, "breaker.failure_rate": "-1"})
        assert refused.status_code == 303
        shown = html.unescape((await editor.get(refused.headers["location"])).text)
        assert "Quality breaker failure rate: Input should be greater than 0" in shown
        assert await breaker_of(database, campaign_id) is None
        saved = await editor.post(f"/ui/campaigns/{campaign_id}/breaker", headers=back, data={
            "csrf_token": csrf_of(page), **FORM, "breaker.failure_rate": "20"})
        assert saved.status_code == 303
        stored = await breaker_of(database, campaign_id)
        assert stored is not None and stored["failure_rate"] == 20.0
        assert 'id="breaker-form"' not in (await (await browser(Role.viewer)).get(f"/ui/campaigns/{campaign_id}/stats")).text
