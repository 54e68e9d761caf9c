"""Meta's number and account webhooks, posted signed to ``/webhooks/whatsapp``: the number's tier,
quality and throughput change at once, and every event is in the number's history (API and page)."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from herald.kit.db import Database
from herald.models import WhatsAppNumber
from tests.conftest import OrgHandle
from tests.factories import make_number
from tests.webhooks.helpers import APP_SECRET, NUMBER_1, WABA_1, outcomes
from tests.webhooks.test_template_updates import SIM, deliver, payload


@pytest.fixture
async def number(app: FastAPI, database: Database, org: OrgHandle) -> int:
    return await make_number(database, app.state.secret_box, org_id=org.id, base_url=SIM, phone_number_id=NUMBER_1,
                             waba_id=WABA_1, app_secret=APP_SECRET)


async def number_row(database: Database, number_id: int) -> WhatsAppNumber:
    async with database.read_session() as session:
        row = await session.get(WhatsAppNumber, number_id)
        assert row is not None
        return row


async def events(client: httpx.AsyncClient, org: OrgHandle, number_id: int) -> list[dict[str, object]]:
    answer = await client.get(f"/api/v1/whatsapp-numbers/{number_id}/events", headers=org.auth)
    assert answer.status_code == 200, answer.text
    return list(answer.json())


class TestQuality:
    async def test_a_downgrade_sets_the_messaging_limit_and_is_in_the_history(
        self, client: httpx.AsyncClient, database: Database, org: OrgHandle, number: int
    ) -> None:
        await deliver(client, database, payload("phone_number_quality_update_downgrade.json"))
        assert (await number_row(database, number)).messaging_limit_tier == "TIER_2K"
        (event,) = await events(client, org, number)
        assert (event["field"], event["event"], event["messaging_limit_tier"], event["reason"]) == (
            "phone_number_quality_update", "DOWNGRADE", "TIER_2K", "messaging limit TIER_10K → TIER_2K")
        assert event["occurred_at"].startswith("2025-12-05T13:00:00")  # entry.time

    async def test_a_count_in_max_daily_conversations_is_read_as_its_tier(
        self, client: httpx.AsyncClient, database: Database, number: int
    ) -> None:
        await deliver(client, database, payload("phone_number_quality_update_downgrade.json",
                                                max_daily_conversations_per_business="10000"))
        assert (await number_row(database, number)).messaging_limit_tier == "TIER_10K"

    async def test_flagged_then_unflagged(self, client: httpx.AsyncClient, database: Database, number: int) -> None:
        async with database.session() as session:
            row = await session.get(WhatsAppNumber, number)
            assert row is not None
            row.quality_rating = "GREEN"
        await deliver(client, database, payload("phone_number_quality_update_flagged.json"))
        assert (await number_row(database, number)).quality_rating == "RED"
        await deliver(client, database, payload("phone_number_quality_update_flagged.json", event="UNFLAGGED"))
        assert (await number_row(database, number)).quality_rating is None  # unknown until refreshed

    async def test_a_throughput_upgrade_raises_the_pace_the_sender_allows(
        self, client: httpx.AsyncClient, database: Database, number: int
    ) -> None:
        await deliver(client, database, payload("phone_number_quality_update_throughput.json"))
        row = await number_row(database, number)
        assert (row.throughput_mps, row.messaging_limit_tier) == (1000, "TIER_UNLIMITED")

    async def test_another_display_number_is_not_ours(
        self, client: httpx.AsyncClient, database: Database, number: int
    ) -> None:
        await deliver(client, database, payload("phone_number_quality_update_downgrade.json",
                                                display_phone_number="15559999999"))
        assert (await number_row(database, number)).messaging_limit_tier is None
        assert list((await outcomes(database)).values()) == ["unknown_number"]


class TestAccountUpdate:
    async def test_restriction_and_violation_are_recorded_on_the_number_they_name(
        self, client: httpx.AsyncClient, database: Database, org: OrgHandle, number: int
    ) -> None:
        await deliver(client, database, payload("account_update_restriction.json"))
        await deliver(client, database, payload("account_update_violation.json"))
        violation, restriction = await events(client, org, number)
        assert (restriction["event"], restriction["reason"]) == (
            "ACCOUNT_RESTRICTION", "restriction RESTRICTED_BIZ_INITIATED_MESSAGING")
        assert (violation["event"], violation["reason"]) == ("ACCOUNT_VIOLATION", "violation SCAM")
        assert restriction["detail"]["restriction_info"][0]["expiration"] == 1765033200

    async def test_an_event_naming_no_number_is_recorded_on_every_number_of_the_waba(
        self, app: FastAPI, client: httpx.AsyncClient, database: Database, org: OrgHandle, number: int
    ) -> None:
        second = await make_number(database, app.state.secret_box, org_id=org.id, base_url=SIM,
                                   phone_number_id="1090009", waba_id=WABA_1, app_secret=APP_SECRET)
        await deliver(client, database, payload("account_update_disabled_waba.json"))
        for number_id in (number, second):
            (event,) = await events(client, org, number_id)
            assert (event["event"], event["reason"]) == ("DISABLED_UPDATE", "ban state DISABLE since December 5, 2026")

    async def test_the_history_of_another_organizations_number_is_404(
        self, client: httpx.AsyncClient, other_org: OrgHandle, number: int
    ) -> None:
        answer = await client.get(f"/api/v1/whatsapp-numbers/{number}/events", headers=other_org.auth)
        assert answer.status_code == 404
