"""Costs on the pages (docs/costs.md): Settings → Rate card (upload with errors by line, overrides,
admin only), the forecast and the budget on the campaign's review, the cost so far on its stats."""

from __future__ import annotations

import html

from sqlalchemy import update

from herald.auth.principal import Role
from herald.kit.db import Database
from herald.models import Campaign, CampaignStats
from tests.conftest import OrgHandle
from tests.factories import make_contacts
from tests.web.conftest import Browser
from tests.web.helpers import csrf_of, page_csrf
from tests.web.test_access import ready_campaign

PAGE = "/ui/settings/rate-card"


class TestRateCardPage:
    async def test_everyone_sees_the_card_and_only_admins_the_forms(self, browser: Browser) -> None:
        viewer, admin = await browser(Role.viewer), await browser(Role.admin)
        page = await viewer.get(PAGE)
        assert page.status_code == 200
        assert "Effective <strong>2025-07-01</strong> · currency <strong>USD</strong>" in page.text
        assert "<td class=\"card-title\">Rest of Latin America</td>" in page.text
        assert 'action="/ui/settings/rate-card/upload"' not in page.text
        assert 'action="/ui/settings/rate-card/upload"' in (await admin.get(PAGE)).text
        download = await viewer.get(f"{PAGE}.csv")
        assert download.headers["content-type"].startswith("text/csv")
        assert "Argentina,0.0618,0.0289,0.0289" in download.text
        refused = await viewer.post(f"{PAGE}/override", data={
            "csrf_token": csrf_of(page.text), "market": "Argentina", "category": "marketing", "price": "1"})
        assert refused.status_code == 403

    async def test_an_upload_with_errors_names_every_line_and_a_good_one_replaces_the_card(self, browser: Browser) -> None:
        admin = await browser(Role.admin)
        token = await page_csrf(admin, PAGE)
        bad = b"market,marketing,utility,authentication\nChile,<b>x</b>,0.02,0.02\nOther,0.05\n"
        answer = await admin.post(f"{PAGE}/upload", headers={"X-CSRF-Token": token},
                                  files={"file": ("card.csv", bad, "text/csv")})
        assert answer.status_code == 422
        assert "line 2: &#39;&lt;b&gt;x&lt;/b&gt;&#39; is not a price" in answer.text  # escaped
        assert "line 3: 4 values expected, found 2" in html.unescape(answer.text)
        good = b"# effective: 2026-10-01\nmarket,marketing,utility,authentication\nChile,0.0889,0.02,0.02\nOther,0.05,0.01,0.01\n"
        answer = await admin.post(f"{PAGE}/upload", headers={"X-CSRF-Token": token},
                                  files={"file": ("card.csv", good, "text/csv")})
        assert answer.status_code == 200 and "Rate card saved: 2 markets" in answer.text
        page = (await admin.get(PAGE)).text
        assert "Your organization's card" in page and "Effective <strong>2026-10-01</strong>" in page

    async def test_an_override_and_a_bad_one_shown_as_typed(self, browser: Browser) -> None:
        admin = await browser(Role.admin)
        token = await page_csrf(admin, PAGE)
        refused = await admin.post(f"{PAGE}/override", data={
            "csrf_token": token, "market": "Argentina", "category": "marketing", "price": "cheap"})
        assert refused.status_code == 422
        assert 'value="cheap"' in refused.text and 'aria-invalid="true"' in refused.text
        saved = await admin.post(f"{PAGE}/override", data={
            "csrf_token": token, "market": "Argentina", "category": "marketing", "price": "0.07"})
        assert saved.status_code == 303
        page = (await admin.get(PAGE)).text
        assert "0.0700 <span class=\"muted\">(override)</span>" in page
        bad = await admin.post(f"{PAGE}/currency", data={"csrf_token": token, "currency": "euros"})
        assert bad.status_code == 422 and 'value="euros"' in bad.text
        assert (await admin.post(f"{PAGE}/currency", data={"csrf_token": token, "currency": "eur"})).status_code == 303
        assert "currency <strong>EUR</strong>" in (await admin.get(PAGE)).text


class TestCampaignCostPages:
    async def test_review_shows_the_forecast_and_warns_above_the_budget(
        self, browser: Browser, database: Database, org: OrgHandle
    ) -> None:
        campaign_id = await ready_campaign(database, org.id)  # its audience: the world's VIP, in France
        await make_contacts(database, org_id=org.id, specs=[{"phone": "+5491150000001", "tags": ["vip"]}])
        editor = await browser(Role.editor)
        page = (await editor.get(f"/ui/campaigns/{campaign_id}/edit/review")).text
        assert "Forecast cost: <strong id=\"forecast-total\">0.12 USD</strong> for 2 eligible contacts" in page
        assert "<td>AR</td><td>Argentina</td>" in page and 'id="over-budget"' not in page

        saved = await editor.post(f"/ui/campaigns/{campaign_id}/budget",
                                  data={"csrf_token": csrf_of(page), "budget": "0.10"},
                                  headers={"referer": f"http://herald.test/ui/campaigns/{campaign_id}/edit/review"})
        assert saved.status_code == 303
        page = (await editor.get(f"/ui/campaigns/{campaign_id}/edit/review")).text
        assert 'id="over-budget"' in page and "is above the budget (0.10 USD)" in html.unescape(page)
        refused = await editor.post(f"/ui/campaigns/{campaign_id}/budget", data={"csrf_token": csrf_of(page), "budget": "-3"},
                                    headers={"referer": f"http://herald.test/ui/campaigns/{campaign_id}/edit/review"})
        assert refused.status_code == 303
        async with database.read_session() as session:
            assert (await session.get(Campaign, campaign_id)).budget == 0.10  # type: ignore[union-attr]

    async def test_review_prices_without_the_holdout_and_says_how_many_it_keeps(
        self, browser: Browser, database: Database, org: OrgHandle
    ) -> None:
        campaign_id = await ready_campaign(database, org.id)
        await make_contacts(database, org_id=org.id, specs=[
            {"phone": f"+54911500{i:05d}", "tags": ["vip"]} for i in range(19)])  # 20 eligible with the world's
        async with database.session() as session:
            await session.execute(update(Campaign).where(Campaign.id == campaign_id).values(holdout_percent=25))
        editor = await browser(Role.editor)
        page = html.unescape((await editor.get(f"/ui/campaigns/{campaign_id}/edit/review")).text)
        assert "for 15 eligible contacts at the marketing rate (about 5 more kept in the holdout" in page

    async def test_stats_show_the_cost_so_far_against_the_budget(
        self, browser: Browser, database: Database, org: OrgHandle
    ) -> None:
        campaign_id = await ready_campaign(database, org.id)
        async with database.session() as session:
            await session.execute(update(Campaign).where(Campaign.id == campaign_id).values(
                status="paused", status_reason="budget reached", budget=10.0, committed_cost=9.95))
            session.add(CampaignStats(campaign_id=campaign_id, targeted=1, pending=1, sent=0, received=0, read=0,
                                      replied=0, unknown=0, not_sent=0, cost=9.5))
        viewer = await browser(Role.viewer)
        page = (await viewer.get(f"/ui/campaigns/{campaign_id}/stats")).text
        assert '<strong id="cost-actual">9.50 USD</strong>' in page
        assert '<strong id="cost-budget">10.00 USD (99.5% used)</strong>' in page
        assert "budget reached" in page
        assert 'id="budget-form"' not in page  # a viewer cannot raise it
        editor = await browser(Role.editor)
        assert 'id="budget-form"' in (await editor.get(f"/ui/campaigns/{campaign_id}/stats")).text
