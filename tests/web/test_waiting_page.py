"""The campaign's stats page says how many contacts wait, why, and when the next send is due (the
portfolio's messaging limit, a 131049 retry), rendered escaped; the initial JSON carries the same."""

from __future__ import annotations

from datetime import timedelta

from herald.auth.principal import Role
from herald.kit.db import Database
from herald.kit.types import utcnow
from tests.conftest import OrgHandle
from tests.reports.helpers import add_messages, make_campaign
from tests.web.conftest import Browser


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
