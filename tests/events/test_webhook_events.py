"""Events recorded from Meta's webhooks, in the round that applies them: statuses (each step a
message took, failures, opt-outs by 131050), template status changes and number quality changes."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from herald.kit.db import Database
from herald.kit.types import utcnow
from herald.models import Campaign, EventOutbox
from tests.conftest import OrgHandle
from tests.events.stored import events_of, stored_events
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

ALL = ["campaign.paused", "message.sent", "message.delivered", "message.read", "message.failed",
       "contact.opted_out", "template.status_changed", "number.quality_changed"]


@pytest.fixture
async def number(app: FastAPI, client: httpx.AsyncClient, database: Database, org: OrgHandle) -> int:
    answer = await client.post("/api/v1/event-endpoints", headers=org.auth, json={
        "url": "https://hooks.example.com/herald", "secret": "s" * 20, "event_types": ALL})
    assert answer.status_code == 201
    return await make_number(database, app.state.secret_box, org_id=org.id, base_url="http://127.0.0.1:9",
                             phone_number_id=NUMBER_1, waba_id=WABA_1, app_secret=APP_SECRET)


async def deliver(client: httpx.AsyncClient, database: Database, raw: bytes) -> None:
    assert (await post_signed(client, raw)).status_code == 200
    await drain(database)


async def recorded(database: Database) -> list[dict[str, Any]]:
    return await stored_events(database)


class TestStatuses:
    async def test_a_delivered_arriving_after_its_read_is_still_reported_and_a_repeat_is_not(
        self, client: httpx.AsyncClient, database: Database, org: OrgHandle, number: int
    ) -> None:
        campaign = await make_campaign(database, org_id=org.id, number_id=number)
        sent_at = utcnow() - timedelta(minutes=5)
        (message,) = await make_messages(database, org_id=org.id, campaign_id=campaign,
                                         specs=[{"wamid": "wamid.E1", "sent_at": sent_at}])
        at = int(utcnow().timestamp())
        await deliver(client, database, status_body([status("wamid.E1", "read", at, callback=str(message))]))
        await deliver(client, database, status_body([status("wamid.E1", "delivered", at - 1, callback=str(message))]))
        await deliver(client, database, status_body([status("wamid.E1", "read", at + 5, callback=str(message))]))
        events = await recorded(database)
        assert [e["type"] for e in events] == ["message.read", "message.delivered"]
        assert {e["id"] for e in events} == {events[0]["id"], events[1]["id"]} and events[0]["id"] != events[1]["id"]
        assert all(e["data"] == {"campaign_id": campaign, "message_id": message, "contact_id": e["data"]["contact_id"],
                                 "wamid": "wamid.E1"} for e in events)

    async def test_a_round_of_statuses_appends_one_pending_batch_each_event_with_its_own_id(
        self, client: httpx.AsyncClient, database: Database, org: OrgHandle, number: int
    ) -> None:
        # Receivers deduplicate on the id (docs/events.md): one round's events, written in one row,
        # must not share one; the row starts pending, untried, naming its first and last event.
        campaign = await make_campaign(database, org_id=org.id, number_id=number)
        messages = await make_messages(database, org_id=org.id, campaign_id=campaign, specs=[
            {"wamid": f"wamid.R{i}", "sent_at": utcnow() - timedelta(minutes=5)} for i in range(30)])
        at = int(utcnow().timestamp())
        await deliver(client, database, status_body([
            status(f"wamid.R{i}", kind, at + offset, callback=str(m))
            for kind, offset in (("delivered", 0), ("read", 3)) for i, m in enumerate(messages)]))
        async with database.read_session() as session:
            (row,) = (await session.execute(select(EventOutbox).order_by(EventOutbox.id))).scalars().all()
        events = events_of(row.payload)
        assert len(events) == row.event_count == 60
        assert len({e["id"] for e in events}) == 60
        assert all(re.fullmatch(r"evt_[0-9a-f]{32}", e["id"]) for e in events)
        assert (row.event_id, row.last_event_id) == (events[0]["id"], events[-1]["id"])
        assert row.event_types == ",".join(dict.fromkeys(e["type"] for e in events))
        assert set(row.event_types.split(",")) == {"message.delivered", "message.read"}
        assert (row.status, row.attempts, row.delivered_at) == ("pending", 0, None)
        assert abs((row.created_at - utcnow()).total_seconds()) < 60

    async def test_a_failure_by_131050_reports_the_failure_and_the_opt_out(
        self, client: httpx.AsyncClient, database: Database, org: OrgHandle, number: int
    ) -> None:
        campaign = await make_campaign(database, org_id=org.id, number_id=number)
        (message,) = await make_messages(database, org_id=org.id, campaign_id=campaign,
                                         specs=[{"wamid": "wamid.E2", "sent_at": utcnow()}])
        await deliver(client, database, status_body([
            status("wamid.E2", "failed", int(utcnow().timestamp()), callback=str(message), code=131050)]))
        failed, opted_out = await recorded(database)
        assert (failed["type"], failed["data"]["error_code"], failed["data"]["stage"]) == ("message.failed", 131050, "status")
        assert opted_out["type"] == "contact.opted_out"
        assert opted_out["data"]["contact_id"] == failed["data"]["contact_id"]


class TestTemplatesAndNumbers:
    async def test_a_paused_template_reports_its_status_and_the_campaign_it_paused(
        self, client: httpx.AsyncClient, database: Database, org: OrgHandle, number: int
    ) -> None:
        template_id = await make_template(database, org_id=org.id, waba_id=WABA_1, name=NAME, language=LANGUAGE)
        campaign = await make_campaign(database, org_id=org.id, number_id=number)
        async with database.session() as session:
            row = await session.get(Campaign, campaign)
            assert row is not None
            row.template_name, row.template_language = NAME, LANGUAGE
        await deliver(client, database, payload("template_status_paused_first_pause.json"))
        changed, paused = await recorded(database)
        assert changed["type"] == "template.status_changed"
        assert {k: changed["data"][k] for k in ("template_id", "name", "language", "status")} == {
            "template_id": template_id, "name": NAME, "language": LANGUAGE, "status": "PAUSED"}
        assert paused["type"] == "campaign.paused" and paused["data"]["campaign_id"] == campaign
        assert paused["data"]["reason"].startswith("template unusable")

    async def test_a_quality_downgrade_reports_the_new_messaging_limit(
        self, client: httpx.AsyncClient, database: Database, org: OrgHandle, number: int
    ) -> None:
        await deliver(client, database, payload("phone_number_quality_update_downgrade.json"))
        (event,) = await recorded(database)
        assert event["type"] == "number.quality_changed"
        assert (event["data"]["number_id"], event["data"]["messaging_limit_tier"]) == (number, "TIER_2K")
