"""The quality circuit breaker from Meta's webhooks, applied by the webhook applier: a number's quality
rating dropping to RED and a template's quality dropping to RED pause the campaigns whose breaker
says so, with ``campaign.paused_by_breaker``; failed statuses, 131049 and opt-outs are counted for
the breaker's window.

Payloads: Meta's webhook reference and pywa's test data (each file names its source)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from fastapi import FastAPI

from herald.kit.db import Database
from herald.kit.types import utcnow
from herald.models import Campaign, CampaignMessage, CampaignStats, Engagement
from tests.conftest import OrgHandle
from tests.events.stored import stored_events
from tests.factories import make_number, make_template
from tests.webhooks.helpers import (
    APP_SECRET,
    NUMBER_1,
    WABA_1,
    drain,
    make_campaign,
    make_messages,
    post_signed,
    status,
    status_body,
)
from tests.webhooks.test_template_updates import LANGUAGE, NAME, payload

CORPUS = Path(__file__).parents[1] / "webhooks" / "corpus"
TYPES = ["campaign.paused", "campaign.paused_by_breaker"]


@pytest.fixture
async def number(app: FastAPI, client: httpx.AsyncClient, database: Database, org: OrgHandle) -> int:
    answer = await client.post("/api/v1/event-endpoints", headers=org.auth, json={
        "url": "https://hooks.example.com/herald", "secret": "s" * 20, "event_types": TYPES})
    assert answer.status_code == 201
    return await make_number(database, app.state.secret_box, org_id=org.id, base_url="http://127.0.0.1:9",
                             phone_number_id=NUMBER_1, waba_id=WABA_1, app_secret=APP_SECRET)


async def deliver(client: httpx.AsyncClient, database: Database, raw: bytes) -> None:
    assert (await post_signed(client, raw)).status_code == 200
    await drain(database)


async def recorded(database: Database) -> list[dict[str, Any]]:
    return await stored_events(database)


async def campaign_row(database: Database, campaign_id: int) -> Campaign:
    async with database.read_session() as session:
        row = await session.get(Campaign, campaign_id)
        assert row is not None
        return row


async def set_columns(database: Database, campaign_id: int, **values: Any) -> None:
    async with database.session() as session:
        row = await session.get(Campaign, campaign_id)
        assert row is not None
        for name, value in values.items():
            setattr(row, name, value)


async def quality_counts(database: Database, campaign_id: int) -> tuple[int, int, int, int]:
    async with database.read_session() as session:
        row = await session.get(CampaignStats, campaign_id)
        assert row is not None
        return row.quality_sends, row.quality_failures, row.quality_blocks, row.quality_opt_outs


class TestNumberQuality:
    async def test_flagged_red_pauses_the_numbers_campaigns_with_the_figure_and_the_breaker_event(
        self, client: httpx.AsyncClient, database: Database, org: OrgHandle, number: int
    ) -> None:
        campaign = await make_campaign(database, org_id=org.id, number_id=number)
        unguarded = await make_campaign(database, org_id=org.id, number_id=number, name="No breaker")
        await set_columns(database, unguarded, breaker={"enabled": False})
        await deliver(client, database, payload("phone_number_quality_update_flagged.json"))

        row = await campaign_row(database, campaign)
        assert row.status == "paused"
        assert row.status_reason == "quality breaker: the number +1 555 000 0001's quality rating dropped to RED"
        assert (await campaign_row(database, unguarded)).status == "active"  # its breaker is off
        paused, breaker = await recorded(database)
        assert paused["type"] == "campaign.paused" and paused["data"]["reason"] == row.status_reason
        assert breaker["type"] == "campaign.paused_by_breaker"
        assert breaker["data"] == {"campaign_id": campaign, "rule": "number_quality", "value": "RED",
                                   "threshold": "RED", "reason": row.status_reason}

    async def test_a_number_already_red_does_not_pause_again(
        self, client: httpx.AsyncClient, database: Database, org: OrgHandle, number: int
    ) -> None:
        await deliver(client, database, payload("phone_number_quality_update_flagged.json"))
        campaign = await make_campaign(database, org_id=org.id, number_id=number)
        # Resumed (or started) by a manager while the number is RED: the same rating again is no news.
        await deliver(client, database, payload("phone_number_quality_update_flagged.json"))
        assert (await campaign_row(database, campaign)).status == "active"


class TestTemplateQuality:
    async def test_quality_red_pauses_the_templates_campaigns(
        self, client: httpx.AsyncClient, database: Database, org: OrgHandle, number: int
    ) -> None:
        await make_template(database, org_id=org.id, waba_id=WABA_1, name=NAME, language=LANGUAGE)
        campaign = await make_campaign(database, org_id=org.id, number_id=number)
        await set_columns(database, campaign, template_name=NAME, template_language=LANGUAGE)
        await deliver(client, database, payload("template_quality_yellow.json", previous_quality_score="YELLOW",
                                                new_quality_score="RED"))
        row = await campaign_row(database, campaign)
        assert row.status == "paused"
        assert row.status_reason == f"quality breaker: the template '{NAME}' ({LANGUAGE}) quality dropped to RED (low)"
        assert [e["type"] for e in await recorded(database)] == TYPES

    async def test_yellow_is_not_a_trip(
        self, client: httpx.AsyncClient, database: Database, org: OrgHandle, number: int
    ) -> None:
        await make_template(database, org_id=org.id, waba_id=WABA_1, name=NAME, language=LANGUAGE)
        campaign = await make_campaign(database, org_id=org.id, number_id=number)
        await set_columns(database, campaign, template_name=NAME, template_language=LANGUAGE)
        await deliver(client, database, payload("template_quality_yellow.json"))
        assert (await campaign_row(database, campaign)).status == "active"
        assert await recorded(database) == []

    async def test_a_template_meta_paused_reports_the_breaker_event_too(
        self, client: httpx.AsyncClient, database: Database, org: OrgHandle, number: int
    ) -> None:
        await make_template(database, org_id=org.id, waba_id=WABA_1, name=NAME, language=LANGUAGE)
        campaign = await make_campaign(database, org_id=org.id, number_id=number)
        await set_columns(database, campaign, template_name=NAME, template_language=LANGUAGE)
        await deliver(client, database, payload("template_status_paused_first_pause.json"))
        paused, breaker = await recorded(database)
        assert paused["type"] == "campaign.paused"
        assert breaker["type"] == "campaign.paused_by_breaker"
        assert (breaker["data"]["rule"], breaker["data"]["value"]) == ("template_status", "PAUSED")
        assert breaker["data"]["reason"] == paused["data"]["reason"]


class TestCounted:
    async def test_failed_statuses_131049_and_an_opt_out_count_for_the_window(
        self, client: httpx.AsyncClient, database: Database, org: OrgHandle, number: int
    ) -> None:
        campaign = await make_campaign(database, org_id=org.id, number_id=number)
        ids = await make_messages(database, org_id=org.id, campaign_id=campaign, specs=[
            {"wamid": f"wamid.Q{i}", "sent_at": utcnow()} for i in range(3)])
        now = int(utcnow().timestamp())
        await deliver(client, database, status_body([
            status("wamid.Q0", "failed", now, callback=str(ids[0]), code=131026),
            status("wamid.Q1", "failed", now, callback=str(ids[1]), code=131049),  # retried in 24 h: a block
        ]))
        await deliver(client, database, status_body([  # the same failure again counts once
            status("wamid.Q0", "failed", now, callback=str(ids[0]), code=131026)]))
        assert (await quality_counts(database, campaign))[1:3] == (1, 1)

        # The third contact, engaged in the campaign, stops marketing messages in WhatsApp.
        async with database.session() as session:
            third = await session.get(CampaignMessage, ids[2])
            assert third is not None
            session.add(Engagement(contact_id=third.contact_id, campaign_id=campaign))
        stop = json.loads((CORPUS / "user_preferences_stop.json").read_text())
        stop.pop("source"), stop.pop("expect")
        value = stop["entry"][0]["changes"][0]["value"]
        value["metadata"]["phone_number_id"] = NUMBER_1
        value["contacts"][0]["wa_id"] = value["user_preferences"][0]["wa_id"] = "14150000002"
        await deliver(client, database, orjson.dumps(stop))
        assert (await quality_counts(database, campaign))[3] == 1
