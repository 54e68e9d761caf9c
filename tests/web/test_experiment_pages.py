"""Holdout and A/B variants on the pages: the holdout field of the first step, the variants editor
(add, shares, remove, errors shown), and the stats page's holdout and per-variant tables."""

from __future__ import annotations

import html

from sqlalchemy import select

from herald.auth.principal import Role
from herald.kit.db import Database
from herald.models import Campaign
from tests.conftest import OrgHandle
from tests.factories import make_world
from tests.reports.helpers import add_messages, at, make_campaign
from tests.web.conftest import Browser
from tests.web.helpers import csrf_of
from tests.web.test_access import ready_campaign


async def _campaign(database: Database, campaign_id: int) -> Campaign:
    async with database.read_session() as session:
        return (await session.execute(select(Campaign).where(Campaign.id == campaign_id))).scalar_one()


async def test_the_first_step_sets_the_holdout_and_refuses_more_than_half(
    browser: Browser, database: Database, org: OrgHandle
) -> None:
    world = await make_world(database, org.id)
    editor = await browser(Role.editor)
    page = await editor.get("/ui/campaigns/new")
    assert 'name="holdout_percent"' in page.text
    refused = await editor.post("/ui/campaigns/new", data={
        "csrf_token": csrf_of(page.text), "name": "Lift test", "whatsapp_number_id": str(world.number_id),
        "holdout_percent": "60"})
    assert refused.status_code == 422
    assert 'id="holdout_percent-error"' in refused.text and 'value="60"' in refused.text
    created = await editor.post("/ui/campaigns/new", data={
        "csrf_token": csrf_of(page.text), "name": "Lift test", "whatsapp_number_id": str(world.number_id),
        "holdout_percent": "10"})
    assert created.status_code == 303
    campaign_id = int(created.headers["location"].split("/")[3])
    assert (await _campaign(database, campaign_id)).holdout_percent == 10


async def test_variants_are_added_with_their_own_texts_given_shares_and_removed(
    browser: Browser, database: Database, org: OrgHandle
) -> None:
    campaign_id = await ready_campaign(database, org.id)
    editor = await browser(Role.editor)
    page = await editor.get(f"/ui/campaigns/{campaign_id}/variants")
    assert page.status_code == 200 and "Add variant B" in page.text
    token = csrf_of(page.text)
    form = {"csrf_token": token, "template": "promo|en_US", "positions": "1,2",
            "var_1_source": "contact_name", "var_1_fallback": "friend", "var_2_source": "text", "var_2_value": "<b>30%</b>"}

    added = await editor.post(f"/ui/campaigns/{campaign_id}/variants", data=form)

    assert added.status_code == 303
    variants = (await _campaign(database, campaign_id)).variants
    assert variants is not None and len(variants) == 2
    assert variants[1]["variables"]["2"] == {"source": "text", "value": "<b>30%</b>"}
    listed = (await editor.get(f"/ui/campaigns/{campaign_id}/variants")).text
    assert "&lt;b&gt;30%&lt;/b&gt;" in listed and "<b>30%</b>" not in listed  # escaped

    refused = await editor.post(f"/ui/campaigns/{campaign_id}/variants/shares",
                                data={"csrf_token": token, "share_0": "70", "share_1": "20"})
    assert refused.status_code == 422 and "sum to 100" in html.unescape(refused.text)
    saved = await editor.post(f"/ui/campaigns/{campaign_id}/variants/shares",
                              data={"csrf_token": token, "share_0": "70", "share_1": "30"})
    assert saved.status_code == 303
    assert [v["share"] for v in (await _campaign(database, campaign_id)).variants or []] == [70, 30]

    removed = await editor.post(f"/ui/campaigns/{campaign_id}/variants/1/remove", data={"csrf_token": token})
    assert removed.status_code == 303
    assert (await _campaign(database, campaign_id)).variants is None  # one left: no A/B test


async def test_a_viewer_reads_the_variants_but_cannot_add_one(
    browser: Browser, database: Database, org: OrgHandle
) -> None:
    campaign_id = await ready_campaign(database, org.id)
    viewer = await browser(Role.viewer)
    page = await viewer.get(f"/ui/campaigns/{campaign_id}/variants")
    assert page.status_code == 200 and 'id="variant-form"' not in page.text
    refused = await viewer.post(f"/ui/campaigns/{campaign_id}/variants", data={"csrf_token": csrf_of(page.text)})
    assert refused.status_code == 403


async def test_the_stats_page_compares_the_holdout_and_the_variants(
    browser: Browser, database: Database, org: OrgHandle
) -> None:
    campaign_id = await make_campaign(database, org_id=org.id)
    async with database.session() as session:
        campaign = await session.get(Campaign, campaign_id)
        assert campaign is not None
        campaign.holdout_percent = 10.0
        campaign.variants = [{}, {"variables": {"1": {"source": "text", "value": "B"}}}]
    specs = [{"phone": f"+3361100{i:04d}", "status": "holdout", **({"steps": {"<bought>": at(1)}} if i < 1 else {})}
             for i in range(4)]
    specs += [{"phone": f"+3361200{i:04d}", "status": "delivered", "sent_at": at(0), "delivered_at": at(1),
               "variant": i % 2, **({"steps": {"<bought>": at(2)}} if i < 6 else {})} for i in range(20)]
    await add_messages(database, org_id=org.id, campaign_id=campaign_id, specs=specs)
    viewer = await browser(Role.viewer)

    page = (await viewer.get(f"/ui/campaigns/{campaign_id}/stats")).text

    assert 'id="holdout-table"' in page and 'id="variants-table"' in page
    assert "&lt;bought&gt;" in page and "<bought>" not in page
    assert "too few contacts to tell" in page
    assert "30.0%" in page and "25.0%" in page  # 6 of 20 sent, 1 of 4 held out
    assert "<script>" not in page.split('id="holdout-section"', 1)[1]
    held = await viewer.get(f"/ui/campaigns/{campaign_id}/contacts?outcome=holdout")
    assert held.status_code == 200 and "+33611000003" in held.text and "+33612000000" not in held.text
