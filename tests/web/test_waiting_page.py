"""The campaign's stats page says how many contacts wait, why, and when the next send is due (the
portfolio's messaging limit, a 131049 retry), rendered escaped; the initial JSON carries the same."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import update

from herald.auth.principal import Role
from herald.kit.db import Database
from herald.kit.types import utcnow
from herald.models import Campaign, WhatsAppNumber
from tests.conftest import OrgHandle
from tests.factories import fr_mobile, make_contacts, make_number
from tests.reports.helpers import add_messages, make_campaign
from tests.web.conftest import Browser
from tests.web.helpers import page_csrf


async def test_the_stats_page_shows_who_waits_why_and_until_when(
    browser: Browser, database: Database, org: OrgHandle
) -> None:
    campaign = await make_campaign(database, org_id=org.id)
    due = utcnow() + timedelta(hours=3)
    await add_messages(database, org_id=org.id, campaign_id=campaign, specs=[
        {"phone": f"+3361000{i:04d}", "status": "pending", "wait_reason": "messaging limit 2,000/24 h reached",
         "next_attempt_at": due} for i in range(3)
    ] + [{"phone": "+33610009999", "status": "pending"}])
    client = await browser(Role.viewer)

    page = await client.get(f"/ui/campaigns/{campaign}/stats")

    assert page.status_code == 200, page.text
    assert "3 waiting: messaging limit 2,000/24 h reached; next send at" in page.text
    assert f'datetime="{due.isoformat()}"' in page.text
    assert '"waiting_reasons": {"messaging limit 2,000/24 h reached": 3}' in page.text or \
        '"waiting_reasons":{"messaging limit 2,000/24 h reached":3}' in page.text


async def test_nothing_waiting_hides_the_line(browser: Browser, database: Database, org: OrgHandle) -> None:
    campaign = await make_campaign(database, org_id=org.id)
    await add_messages(database, org_id=org.id, campaign_id=campaign, specs=[{"phone": "+33610000001", "status": "pending"}])
    client = await browser(Role.viewer)

    page = await client.get(f"/ui/campaigns/{campaign}/stats")

    assert '<p id="waiting" class="hint" aria-live="polite" hidden></p>' in page.text


async def test_the_schedule_estimate_counts_the_days_the_messaging_limit_adds(
    browser: Browser, database: Database, org: OrgHandle
) -> None:
    number = await make_number(database, org_id=org.id)
    async with database.session() as session:
        await session.execute(update(WhatsAppNumber).where(WhatsAppNumber.id == number).values(
            messaging_limit_tier="TIER_50"))
        row = Campaign(org_id=org.id, name="S", status="ready", kind="real", missing=[], whatsapp_number_id=number,
                       audience={"tags_any": ["vip"]}, template_name="promo", template_language="en_US",
                       variables={"1": {"source": "contact_name"}})
        session.add(row)
        await session.flush()
        campaign_id = row.id
    await make_contacts(database, org_id=org.id, specs=[{"phone": fr_mobile(i), "tags": ["vip"]} for i in range(60)])
    editor = await browser(Role.editor)
    tomorrow = date.today() + timedelta(days=1)

    estimate = await editor.get(f"/ui/campaigns/{campaign_id}/schedule/estimate", params={
        "day": tomorrow.isoformat(), "clock": "09:00", "timezone": "UTC", "rate_per_hour": "100"})

    text = " ".join(estimate.text.split())
    assert ("The messaging limit of this number's business portfolio (50 new contacts per 24 hours, TIER_50; "
            "0 reached in the last 24 hours) lets 50 go at first: 10 wait for places to free, over about 1 more day."
            ) in text
    # 60 at 100/hour would take 36 minutes; the last 10 go a day later, 6 minutes after the places free.
    assert f"estimated finish <strong>{(tomorrow + timedelta(days=1)).isoformat()} 09:06</strong>" in text


async def test_the_131049_deadline_is_set_in_the_wizard_and_a_wrong_one_is_named(
    browser: Browser, database: Database, org: OrgHandle
) -> None:
    editor = await browser(Role.editor)
    token = await page_csrf(editor, "/ui/campaigns/new")
    created = await editor.post("/ui/campaigns/new", data={"csrf_token": token, "name": "Spring",
                                                           "marketing_retry_days": "3"})
    assert created.status_code == 303, created.text
    campaign_id = int(created.headers["location"].split("/")[3])
    async with database.read_session() as session:
        assert (await session.get(Campaign, campaign_id)).marketing_retry_days == 3  # type: ignore[union-attr]

    wrong = await editor.post(f"/ui/campaigns/{campaign_id}/edit/basics", data={
        "csrf_token": token, "name": "Spring", "marketing_retry_days": "45"})
    assert wrong.status_code in (200, 422)
    assert 'id="marketing_retry_days-error"' in wrong.text and 'aria-invalid="true"' in wrong.text
    review = await editor.get(f"/ui/campaigns/{campaign_id}/edit/review")
    assert "for up to 3.0 days after the first try" in review.text
