"""What Meta's template and number webhooks changed, as users see it: the template and number pages
with their history, a campaign paused for its template (list and stats page), automatic resume, and
resuming refused while the template cannot be sent."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from herald.auth.principal import Role
from herald.kit.db import Database
from herald.models import Campaign
from tests.conftest import OrgHandle
from tests.factories import make_number, make_template
from tests.web.conftest import Browser
from tests.web.helpers import csrf_of
from tests.webhooks.helpers import APP_SECRET, NUMBER_1, WABA_1, make_campaign
from tests.webhooks.test_template_updates import LANGUAGE, NAME, SIM, deliver, payload

SCRIPT = "<script>alert(1)</script>"


@pytest.fixture
async def world(app: FastAPI, database: Database, org: OrgHandle) -> dict[str, int]:
    number = await make_number(database, app.state.secret_box, org_id=org.id, base_url=SIM, phone_number_id=NUMBER_1,
                               waba_id=WABA_1, app_secret=APP_SECRET)
    template = await make_template(database, org_id=org.id, waba_id=WABA_1, name=NAME, language=LANGUAGE)
    campaign = await make_campaign(database, org_id=org.id, number_id=number)
    async with database.session() as session:
        row = await session.get(Campaign, campaign)
        assert row is not None
        row.template_name, row.template_language = NAME, LANGUAGE
    return {"number": number, "template": template, "campaign": campaign}


class TestTemplatePage:
    async def test_status_quality_and_metas_words_escaped(
        self, client: httpx.AsyncClient, database: Database, browser: Browser, world: dict[str, int]
    ) -> None:
        await deliver(client, database, payload("template_quality_yellow.json"))
        await deliver(client, database, payload("template_status_paused_first_pause.json", other_info={
            "title": "FIRST_PAUSE", "description": f"Paused {SCRIPT}"}))
        viewer = await browser(Role.viewer)
        page = await viewer.get(f"/ui/templates/{world['template']}")
        assert page.status_code == 200
        assert 'id="template-status">PAUSED' in page.text
        assert 'id="template-quality">YELLOW' in page.text
        assert "GREEN → YELLOW" in page.text and "FIRST_PAUSE" in page.text
        assert SCRIPT not in page.text and "&lt;script&gt;" in page.text
        listing = await viewer.get("/ui/templates")
        assert f'href="/ui/templates/{world["template"]}"' in listing.text and "<td>PAUSED</td>" in listing.text

    async def test_the_api_lists_the_history_newest_first(
        self, client: httpx.AsyncClient, database: Database, org: OrgHandle, world: dict[str, int]
    ) -> None:
        await deliver(client, database, payload("template_status_paused_first_pause.json"))
        await deliver(client, database, payload("template_status_reinstated.json"))
        answer = await client.get(f"/api/v1/templates/{world['template']}/events", headers=org.auth)
        assert [(e["event"], e["status"]) for e in answer.json()] == [("REINSTATED", "APPROVED"), ("PAUSED", "PAUSED")]
        template = (await client.get(f"/api/v1/templates/{world['template']}", headers=org.auth)).json()
        assert (template["status"], template["usable"]) == ("APPROVED", True)
        assert template["status_updated_at"].startswith("2025-12-05T06:00:00")


class TestNumberPage:
    async def test_tier_quality_and_account_events(
        self, client: httpx.AsyncClient, database: Database, browser: Browser, world: dict[str, int]
    ) -> None:
        await deliver(client, database, payload("phone_number_quality_update_downgrade.json"))
        await deliver(client, database, payload("account_update_violation.json"))
        viewer = await browser(Role.viewer)
        page = await viewer.get(f"/ui/numbers/{world['number']}")
        assert page.status_code == 200
        assert 'id="number-tier">TIER_2K' in page.text
        assert "ACCOUNT_VIOLATION" in page.text and "violation SCAM" in page.text
        assert "messaging limit TIER_10K → TIER_2K" in page.text
        assert (await viewer.get("/ui/numbers/999999")).status_code == 404


class TestPausedCampaign:
    async def test_the_reason_shows_in_the_list_and_on_the_stats_page_and_resume_waits_for_meta(
        self, client: httpx.AsyncClient, database: Database, org: OrgHandle, browser: Browser, world: dict[str, int]
    ) -> None:
        await deliver(client, database, payload("template_status_disabled.json"))
        editor = await browser(Role.editor)
        reason = "template unusable: &#39;seasonal_offer&#39; (en_US) is DISABLED at Meta since"
        assert reason in (await editor.get("/ui/campaigns")).text
        stats = await editor.get(f"/ui/campaigns/{world['campaign']}/stats")
        assert reason in stats.text

        refused = await client.post(f"/api/v1/campaigns/{world['campaign']}/resume", headers=org.auth)
        assert refused.status_code == 422
        assert [d["field"] for d in refused.json()["error"]["details"]] == ["template"]
        assert "status DISABLED" in refused.json()["error"]["message"]

        await deliver(client, database, payload("template_status_reinstated.json"))
        stats = await editor.get(f"/ui/campaigns/{world['campaign']}/stats")
        assert "template reinstated: can be resumed" in stats.text
        resumed = await client.post(f"/api/v1/campaigns/{world['campaign']}/resume", headers=org.auth)
        assert resumed.status_code == 200 and resumed.json()["status"] == "active"

    async def test_auto_resume_is_off_by_default_and_set_from_the_stats_page_or_the_api(
        self, client: httpx.AsyncClient, database: Database, org: OrgHandle, browser: Browser, world: dict[str, int]
    ) -> None:
        campaign = (await client.get(f"/api/v1/campaigns/{world['campaign']}", headers=org.auth)).json()
        assert campaign["auto_resume"] is False
        editor = await browser(Role.editor)
        stats = await editor.get(f"/ui/campaigns/{world['campaign']}/stats")
        assert "Turn on automatic resume" in stats.text
        answer = await editor.post(f"/ui/campaigns/{world['campaign']}/auto-resume",
                                   data={"auto_resume": "on", "csrf_token": csrf_of(stats.text)},
                                   headers={"referer": f"http://herald.test/ui/campaigns/{world['campaign']}/stats"})
        assert answer.status_code == 303
        campaign = (await client.get(f"/api/v1/campaigns/{world['campaign']}", headers=org.auth)).json()
        assert campaign["auto_resume"] is True
        patched = await client.patch(f"/api/v1/campaigns/{world['campaign']}", json={"auto_resume": False},
                                     headers=org.auth)
        assert patched.status_code == 200 and patched.json()["auto_resume"] is False
        bad = await client.patch(f"/api/v1/campaigns/{world['campaign']}", json={"auto_resume": "sometimes"},
                                 headers=org.auth)
        assert bad.status_code == 422 and "auto_resume" in bad.text

    async def test_a_new_campaign_takes_auto_resume_from_the_api(
        self, client: httpx.AsyncClient, org: OrgHandle, world: dict[str, int]
    ) -> None:
        created = await client.post("/api/v1/campaigns", json={"name": "Later", "auto_resume": True}, headers=org.auth)
        assert created.status_code == 201, created.text
        assert created.json()["auto_resume"] is True
