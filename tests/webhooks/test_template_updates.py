"""Meta's template webhooks, posted signed to ``/webhooks/whatsapp``: the template changes at once, its
history records Meta's words, and the campaigns sending it are paused, told, or resumed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from herald.kit.db import Database
from herald.models import Campaign, Template, TemplateEvent, WebhookEvent
from tests.conftest import OrgHandle
from tests.factories import make_number, make_template
from tests.webhooks.helpers import APP_SECRET, NUMBER_1, WABA_1, drain, make_campaign, outcomes, post_signed

PAYLOADS = Path(__file__).parent / "payloads" / "templates_numbers"
NAME, LANGUAGE = "seasonal_offer", "en_US"
SIM = "http://127.0.0.1:9"


def payload(name: str, **changes: Any) -> bytes:
    """A payload file without its ``source``; ``changes`` replace keys of the change's value."""
    document = json.loads((PAYLOADS / name).read_text())
    document.pop("source")
    document["entry"][0]["changes"][0]["value"].update(changes)
    return orjson.dumps(document)


@pytest.fixture
async def number(app: FastAPI, database: Database, org: OrgHandle) -> int:
    return await make_number(database, app.state.secret_box, org_id=org.id, base_url=SIM, phone_number_id=NUMBER_1,
                             waba_id=WABA_1, app_secret=APP_SECRET)


@pytest.fixture
async def template_id(database: Database, org: OrgHandle, number: int) -> int:
    template = await make_template(database, org_id=org.id, waba_id=WABA_1, name=NAME, language=LANGUAGE)
    async with database.session() as session:
        row = await session.get(Template, template)
        assert row is not None
        row.category = "UTILITY"
    return template


async def campaign_with_template(database: Database, org: OrgHandle, number: int, *, status: str = "active",
                                 auto_resume: bool = False) -> int:
    campaign_id = await make_campaign(database, org_id=org.id, number_id=number, status=status)
    async with database.session() as session:
        campaign = await session.get(Campaign, campaign_id)
        assert campaign is not None
        campaign.template_name, campaign.template_language = NAME, LANGUAGE
        campaign.auto_resume = auto_resume
    return campaign_id


async def deliver(client: httpx.AsyncClient, database: Database, raw: bytes) -> None:
    response = await post_signed(client, raw)
    assert response.status_code == 200, response.text
    assert response.json()["new"] == 1
    await drain(database)


async def template(database: Database, template_id: int) -> Template:
    async with database.read_session() as session:
        row = await session.get(Template, template_id)
        assert row is not None
        return row


async def campaign(database: Database, campaign_id: int) -> Campaign:
    async with database.read_session() as session:
        row = await session.get(Campaign, campaign_id)
        assert row is not None
        return row


async def history(database: Database, template_id: int) -> list[TemplateEvent]:
    async with database.read_session() as session:
        query = select(TemplateEvent).where(TemplateEvent.template_id == template_id).order_by(TemplateEvent.id)
        return list((await session.execute(query)).scalars())


class TestStatus:
    async def test_a_pause_makes_the_template_unusable_with_metas_words_and_time(
        self, client: httpx.AsyncClient, database: Database, template_id: int
    ) -> None:
        await deliver(client, database, payload("template_status_paused_first_pause.json"))
        row = await template(database, template_id)
        assert (row.status, row.usable) == ("PAUSED", False)
        assert row.reason is not None and row.reason.startswith("status PAUSED: Paused for 3 hours")
        assert row.status_updated_at is not None and int(row.status_updated_at.timestamp()) == 1764896400
        (event,) = await history(database, template_id)
        assert (event.field, event.event, event.status) == ("message_template_status_update", "PAUSED", "PAUSED")
        assert event.reason == "Paused for 3 hours after low-quality feedback from customers. (FIRST_PAUSE)"
        assert event.detail["other_info"]["title"] == "FIRST_PAUSE"
        assert int(event.occurred_at.timestamp()) == 1764896400

    async def test_an_active_campaign_is_paused_with_the_reason_and_told_when_reinstated(
        self, client: httpx.AsyncClient, database: Database, org: OrgHandle, number: int, template_id: int
    ) -> None:
        campaign_id = await campaign_with_template(database, org, number)
        await deliver(client, database, payload("template_status_paused_first_pause.json"))
        paused = await campaign(database, campaign_id)
        assert paused.status == "paused"
        assert paused.status_reason == (
            "template unusable: 'seasonal_offer' (en_US) is PAUSED at Meta since 2025-12-05 01:00 UTC: "
            "Paused for 3 hours after low-quality feedback from customers. (FIRST_PAUSE)"
        )
        await deliver(client, database, payload("template_status_approved_unpause.json"))
        told = await campaign(database, campaign_id)
        assert told.status == "paused"  # auto_resume is off by default
        assert told.status_reason == (
            "template reinstated: can be resumed ('seasonal_offer' (en_US) is APPROVED again since 2025-12-05 04:00 UTC)"
        )
        assert (await template(database, template_id)).usable

    async def test_auto_resume_resumes_the_campaign_it_paused(
        self, client: httpx.AsyncClient, database: Database, org: OrgHandle, number: int, template_id: int
    ) -> None:
        campaign_id = await campaign_with_template(database, org, number, auto_resume=True)
        await deliver(client, database, payload("template_status_disabled.json"))
        assert (await campaign(database, campaign_id)).status == "paused"
        await deliver(client, database, payload("template_status_reinstated.json"))
        resumed = await campaign(database, campaign_id)
        assert resumed.status == "active"
        assert resumed.status_reason is not None and resumed.status_reason.startswith("resumed automatically: ")

    async def test_a_campaign_paused_by_its_user_stays_paused_and_keeps_its_reason(
        self, client: httpx.AsyncClient, database: Database, org: OrgHandle, number: int, template_id: int
    ) -> None:
        campaign_id = await campaign_with_template(database, org, number, status="paused", auto_resume=True)
        async with database.session() as session:
            row = await session.get(Campaign, campaign_id)
            assert row is not None
            row.status_reason = "paused by user"
        await deliver(client, database, payload("template_status_paused_first_pause.json"))
        await deliver(client, database, payload("template_status_reinstated.json"))
        row = await campaign(database, campaign_id)
        assert (row.status, row.status_reason) == ("paused", "paused by user")

    async def test_the_engines_own_pause_for_a_refused_send_is_resumed_on_reinstatement(
        self, client: httpx.AsyncClient, database: Database, org: OrgHandle, number: int, template_id: int
    ) -> None:
        """WhatsApp refuses sends (132015) before its webhook arrives: the engine paused first."""
        campaign_id = await campaign_with_template(database, org, number, status="paused", auto_resume=True)
        async with database.session() as session:
            row = await session.get(Campaign, campaign_id)
            assert row is not None
            row.status_reason = "template paused by WhatsApp for low quality"
        await deliver(client, database, payload("template_status_paused_first_pause.json"))
        assert (await campaign(database, campaign_id)).status_reason.startswith("template unusable: ")  # type: ignore[union-attr]
        await deliver(client, database, payload("template_status_approved_unpause.json"))
        assert (await campaign(database, campaign_id)).status == "active"

    async def test_flagged_is_recorded_and_changes_nothing_else(
        self, client: httpx.AsyncClient, database: Database, org: OrgHandle, number: int, template_id: int
    ) -> None:
        campaign_id = await campaign_with_template(database, org, number)
        await deliver(client, database, payload("template_status_flagged.json"))
        row = await template(database, template_id)
        assert (row.status, row.usable) == ("APPROVED", True)
        assert [e.event for e in await history(database, template_id)] == ["FLAGGED"]
        assert (await campaign(database, campaign_id)).status == "active"

    async def test_a_rejection_keeps_metas_reason(
        self, client: httpx.AsyncClient, database: Database, template_id: int
    ) -> None:
        await deliver(client, database, payload("template_status_rejected_invalid_format.json"))
        row = await template(database, template_id)
        assert (row.status, row.usable, row.reason) == ("REJECTED", False, "status REJECTED: reason: INVALID_FORMAT")

    async def test_pywas_shape_with_an_integer_id_and_a_null_reason(
        self, client: httpx.AsyncClient, database: Database, template_id: int
    ) -> None:
        await deliver(client, database, payload("template_status_paused_first_pause.json"))
        await deliver(client, database, payload("template_status_approved_pywa.json"))
        row = await template(database, template_id)
        assert (row.status, row.usable, row.reason) == ("APPROVED", True, None)

    async def test_meta_retrying_the_same_webhook_is_applied_once(
        self, client: httpx.AsyncClient, database: Database, template_id: int
    ) -> None:
        raw = payload("template_status_paused_first_pause.json")
        await deliver(client, database, raw)
        again = await post_signed(client, raw)
        assert again.json() == {"received": 1, "new": 0}
        assert len(await history(database, template_id)) == 1

    async def test_a_template_herald_does_not_know_is_recorded_as_such(
        self, client: httpx.AsyncClient, database: Database, number: int
    ) -> None:
        await deliver(client, database, payload("template_status_paused_first_pause.json"))
        assert list((await outcomes(database)).values()) == ["unknown_template"]


class TestQualityAndCategory:
    async def test_quality_score_is_kept_with_its_history(
        self, client: httpx.AsyncClient, database: Database, template_id: int
    ) -> None:
        await deliver(client, database, payload("template_quality_yellow.json"))
        assert (await template(database, template_id)).quality_score == "YELLOW"
        assert [e.event for e in await history(database, template_id)] == ["GREEN → YELLOW"]

    async def test_utility_to_marketing_pauses_the_campaign_until_a_user_resumes_it(
        self, client: httpx.AsyncClient, database: Database, org: OrgHandle, number: int, template_id: int
    ) -> None:
        campaign_id = await campaign_with_template(database, org, number, auto_resume=True)
        await deliver(client, database, payload("template_category_update_done.json"))
        assert (await template(database, template_id)).category == "MARKETING"
        row = await campaign(database, campaign_id)
        assert row.status == "paused"
        assert row.status_reason == (
            "template recategorised: 'seasonal_offer' (en_US) is MARKETING since 2025-12-05 11:00 UTC, it was "
            "UTILITY when the campaign started; resume to send it as MARKETING"
        )
        await deliver(client, database, payload("template_status_approved_pywa.json"))
        assert (await campaign(database, campaign_id)).status == "paused"  # not the template's status: no auto-resume
        resumed = await client.post(f"/api/v1/campaigns/{campaign_id}/resume", headers=org.auth)
        assert resumed.status_code == 200, resumed.text
        assert resumed.json()["status"] == "active"

    async def test_an_announced_recategorisation_is_only_recorded(
        self, client: httpx.AsyncClient, database: Database, org: OrgHandle, number: int, template_id: int
    ) -> None:
        campaign_id = await campaign_with_template(database, org, number)
        await deliver(client, database, payload("template_category_update_announced.json"))
        assert (await template(database, template_id)).category == "UTILITY"
        (event,) = await history(database, template_id)
        assert event.event == "UTILITY → MARKETING announced"
        assert event.reason == "Meta will recategorise it as MARKETING on 2025-12-06 12:00 UTC"
        assert (await campaign(database, campaign_id)).status == "active"


class TestVerification:
    async def test_a_template_webhook_signed_with_another_secret_is_refused(
        self, client: httpx.AsyncClient, database: Database, template_id: int
    ) -> None:
        response = await post_signed(client, payload("template_status_paused_first_pause.json"), secret="not-the-secret")
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "bad_signature"
        assert (await template(database, template_id)).status == "APPROVED"

    async def test_only_organizations_with_a_number_in_the_waba_are_changed(
        self, app: FastAPI, client: httpx.AsyncClient, database: Database, other_org: OrgHandle, template_id: int
    ) -> None:
        elsewhere = await make_template(database, org_id=other_org.id, waba_id="999", name=NAME, language=LANGUAGE)
        await deliver(client, database, payload("template_status_paused_first_pause.json"))
        assert (await template(database, elsewhere)).status == "APPROVED"
        assert (await template(database, template_id)).status == "PAUSED"


class TestRobustness:
    async def test_a_stored_event_it_cannot_read_is_marked_and_does_not_block_the_others(
        self, client: httpx.AsyncClient, database: Database, org: OrgHandle, template_id: int
    ) -> None:
        async with database.session() as session:
            session.add(WebhookEvent(dedupe_key="w:old-shape", kind="template_status", org_id=org.id,
                                     phone_number_id=WABA_1, payload={"org_id": org.id, "gone_field": 1}))
        await deliver(client, database, payload("template_status_paused_first_pause.json"))
        assert (await template(database, template_id)).status == "PAUSED"
        assert (await outcomes(database))["w:old-shape"] == "unreadable"


class TestTwoAppsOneWaba:
    async def test_each_organization_takes_the_template_webhook_its_own_app_signed(
        self, app: FastAPI, client: httpx.AsyncClient, database: Database, other_org: OrgHandle, template_id: int
    ) -> None:
        """Two organizations whose numbers share a WABA through two apps: Meta signs each app's copy
        with that app's secret, and each copy changes only its organization's template."""
        await make_number(database, app.state.secret_box, org_id=other_org.id, base_url=SIM,
                          phone_number_id="1090077", waba_id=WABA_1, app_secret="the-other-apps-secret")
        theirs = await make_template(database, org_id=other_org.id, waba_id=WABA_1, name=NAME, language=LANGUAGE)
        await deliver(client, database, payload("template_status_paused_first_pause.json"))
        assert (await template(database, template_id)).status == "PAUSED"
        assert (await template(database, theirs)).status == "APPROVED"
        response = await post_signed(client, payload("template_status_disabled.json"), secret="the-other-apps-secret")
        assert response.json() == {"received": 1, "new": 1}
        await drain(database)
        assert (await template(database, theirs)).status == "DISABLED"
        assert (await template(database, template_id)).status == "PAUSED"
