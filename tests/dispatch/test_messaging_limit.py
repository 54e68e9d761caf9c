"""Meta's messaging limit per business portfolio, followed live: a number at TIER_250 sends to 250
unique users in 24 hours and holds the rest as waiting, with the reason in the stats and the report;
contacts already messaged by the portfolio in the window are free; all numbers of a portfolio share it.
The end-to-end tests run a real worker against the simulator, which enforces the limit too (131048)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select, update

from herald.kit.crypto import SecretBox
from herald.kit.db import Database
from herald.kit.types import utcnow
from herald.models import Campaign, CampaignMessage, PortfolioReach, WhatsAppNumber
from herald.numbers.messaging_limit import Usage, limit_of, plan, tier_of
from herald.simulator import Scenario, SimulatorServer
from herald.whatsapp import CloudAPIClient, NumberCredentials
from tests.conftest import LOOPBACK_ALLOWED, OrgHandle
from tests.dispatch.helpers import messages, running_worker, sim_messages, wait_until
from tests.factories import (
    fr_mobile,
    graph_template,
    make_active_campaign,
    make_bot_flow,
    make_contacts,
    make_media,
    make_number,
    make_template,
)

T0 = datetime(2026, 12, 5, 10, 0, tzinfo=UTC)
REASON = "messaging limit 250/24 h reached"
VARIABLES = {"1": {"source": "contact_name"}, "2": {"source": "text", "value": "X1"}, "3": {"source": "text", "value": "5%"}}


class TestPlan:
    """``plan``, the decision: a pure function of the contacts, the limit and the window's usage."""

    def test_new_contacts_take_the_places_left_in_order_and_the_rest_wait_for_the_oldest_reach(self) -> None:
        usage = Usage(reached=248, oldest=T0 - timedelta(hours=20))
        decided = plan([11, 12, 13, 14], limit=250, usage=usage, now=T0)
        assert (decided.allowed, decided.held) == ([11, 12], [13, 14])
        assert decided.until == T0 + timedelta(hours=4)

    def test_contacts_already_reached_in_the_window_are_free_even_when_the_limit_is_reached(self) -> None:
        usage = Usage(reached=250, oldest=T0 - timedelta(hours=1), among=frozenset({12}))
        decided = plan([11, 12, 13], limit=250, usage=usage, now=T0)
        assert (decided.allowed, decided.held) == ([12], [11, 13])

    def test_no_known_limit_lets_everyone_through(self) -> None:
        decided = plan([1, 2], limit=None, usage=Usage(reached=10**6, oldest=T0), now=T0)
        assert (decided.allowed, decided.held, decided.until) == ([1, 2], [], None)

    def test_the_portfolios_limit_is_its_highest_known_tier(self) -> None:
        assert limit_of(["TIER_250", None, "TIER_2K"]) == 2_000
        assert limit_of(["TIER_250", "TIER_UNLIMITED"]) is None
        assert limit_of([None, "SOMETHING_NEW"]) is None  # not known: Herald does not limit, Meta still does
        assert limit_of(["tier_10k"]) == 10_000
        assert limit_of(["1000", "TIER_250"]) == 1_000  # a plain number of users, as some payloads give it
        assert tier_of(["TIER_250", "TIER_2K", None]) == "TIER_2K"
        assert tier_of(["TIER_2K", "TIER_UNLIMITED"]) == "TIER_UNLIMITED"


@pytest.fixture
def simulator() -> Iterator[SimulatorServer]:
    tier = {"waba_id": "2090001", "messaging_limit_tier": "TIER_250", "throughput_mps": 80}
    scenario = Scenario.model_validate({
        "phone_numbers": [{"phone_number_id": "1090001", **tier}, {"phone_number_id": "1090002", **tier}],
        "templates": [graph_template()], "seed": 3, "read_probability": 0, "reply_probability": 0,
    })
    with SimulatorServer(scenario, webhook_url=None, app_secret="sim-secret") as sim:
        yield sim


async def upload_banner(base_url: str) -> str:
    creds = NumberCredentials(phone_number_id="1090001", waba_id="2090001", access_token="sim-token",
                              graph_api_base=base_url)
    async with CloudAPIClient(outbound=LOOPBACK_ALLOWED) as client:
        return await client.upload_media(creds, b"\x89PNG\r\n\x1a\n" + b"0" * 64, "banner.png", "image/png")


async def counts(database: Database, campaign_id: int) -> dict[str, int]:
    """sent, held (pending and waiting for the limit), and in flight."""
    async with database.read_session() as session:
        rows = (await session.execute(
            select(CampaignMessage.status, CampaignMessage.wait_reason, func.count())
            .where(CampaignMessage.campaign_id == campaign_id)
            .group_by(CampaignMessage.status, CampaignMessage.wait_reason)
        )).all()
    found = {"sent": 0, "held": 0, "other": 0}
    for status, reason, n in rows:
        key = "sent" if status == "sent" else "held" if status == "pending" and reason == REASON else "other"
        found[key] += n
    return found


class TestTier250EndToEnd:
    async def test_400_eligible_contacts_send_250_and_hold_150_as_waiting_until_places_free(
        self, app: FastAPI, client: httpx.AsyncClient, database: Database, org: OrgHandle, simulator: SimulatorServer
    ) -> None:
        box: SecretBox = app.state.secret_box
        number_id = await make_number(database, box, org_id=org.id, base_url=simulator.base_url)
        # The tier comes from the number's info, as Graph (here the simulator) reports it.
        refreshed = await client.post(f"/api/v1/whatsapp-numbers/{number_id}/refresh", headers=org.auth)
        assert refreshed.status_code == 200, refreshed.text
        assert refreshed.json()["messaging_limit_tier"] == "TIER_250"
        await make_template(database, org_id=org.id)
        media = await make_media(database, org_id=org.id, number_id=number_id,
                                 media_id=await upload_banner(simulator.base_url))
        bot = await make_bot_flow(database, box, org_id=org.id)
        await make_contacts(database, org_id=org.id,
                            specs=[{"phone": fr_mobile(i), "name": f"C{i}", "tags": ["vip"]} for i in range(400)])

        preview = await client.post("/api/v1/campaigns/audience-preview", headers=org.auth, json={
            "audience": {"tags_any": ["vip"]}, "variables": VARIABLES, "whatsapp_number_id": number_id})
        assert preview.status_code == 200, preview.text
        assert preview.json()["messaging_limit"] == {
            "tier": "TIER_250", "limit_per_24h": 250, "reached_24h": 0, "available_now": 250, "waiting": 150,
        }

        campaign = await make_active_campaign(
            database, org_id=org.id, number_id=number_id, audience={"tags_any": ["vip"]}, variables=VARIABLES,
            media_row_id=media, bot_flow_id=bot, rate=80,
        )
        async with running_worker(database, box) as _:
            await wait_until(lambda: _equals(counts(database, campaign), {"sent": 250, "held": 150, "other": 0}))

            # Herald never went past the limit: the simulated Meta refused nothing for it.
            assert len(sim_messages(simulator.base_url)) == 250
            assert "131048" not in simulator.stats()["rejected"]
            rows = await messages(database, campaign)
            held = [m for m in rows.values() if m.status == "pending"]
            first_send = min(m.sent_at for m in rows.values() if m.sent_at is not None)
            assert {m.attempts for m in held} == {0}  # held at the claim, never tried
            assert {m.next_attempt_at for m in held} == {_reached_first(first_send, held)}

            stats = (await client.get(f"/api/v1/campaigns/{campaign}/stats", headers=org.auth)).json()
            assert (stats["sent"], stats["pending"], stats["waiting"]) == (250, 150, 150)
            assert stats["waiting_reasons"] == {REASON: 150}
            assert datetime.fromisoformat(stats["next_send_at"]) == held[0].next_attempt_at
            report = (await client.get(f"/api/v1/campaigns/{campaign}/report.csv", headers=org.auth)).text
            waiting = [r["waiting"] for r in csv.DictReader(io.StringIO(report, newline="")) if r["status"] == "pending"]
            when = held[0].next_attempt_at.strftime("%Y-%m-%dT%H:%M:%SZ")
            assert waiting == [f"{REASON}; next send at {when}"] * 150
            async with database.read_session() as session:
                assert (await session.get(Campaign, campaign)).status == "active"  # type: ignore[union-attr]

            # 24 hours later (both clocks moved on): the places free and the 150 go.
            await _a_day_passes(database, simulator, campaign)
            await wait_until(lambda: _equals(counts(database, campaign), {"sent": 400, "held": 0, "other": 0}))
        assert len(sim_messages(simulator.base_url)) == 400
        assert "131048" not in simulator.stats()["rejected"]

    async def test_numbers_of_a_portfolio_share_it_and_contacts_already_reached_are_free(
        self, app: FastAPI, client: httpx.AsyncClient, database: Database, org: OrgHandle, simulator: SimulatorServer
    ) -> None:
        box: SecretBox = app.state.secret_box
        first = await make_number(database, box, org_id=org.id, base_url=simulator.base_url)
        # The second number of the WABA has no known tier: the portfolio's limit (250) holds for it too.
        second = await make_number(database, box, org_id=org.id, base_url=simulator.base_url, phone_number_id="1090002")
        async with database.session() as session:
            await session.execute(update(WhatsAppNumber).where(WhatsAppNumber.id == first)
                                  .values(messaging_limit_tier="TIER_250"))
        await make_template(database, org_id=org.id)
        media = await make_media(database, org_id=org.id, number_id=first,
                                 media_id=await upload_banner(simulator.base_url))
        bot = await make_bot_flow(database, box, org_id=org.id)
        ids = await make_contacts(database, org_id=org.id, specs=[
            {"phone": fr_mobile(i), "name": f"C{i}", "tags": ["vip"] + (["again"] if i < 10 else [])}
            for i in range(250)
        ] + [{"phone": fr_mobile(1000 + i), "name": f"N{i}", "tags": ["again"]} for i in range(5)])
        campaign = await make_active_campaign(
            database, org_id=org.id, number_id=first, audience={"tags_any": ["vip"]}, variables=VARIABLES,
            media_row_id=media, bot_flow_id=bot, rate=80,
        )
        async with running_worker(database, box):
            await wait_until(lambda: _equals(counts(database, campaign), {"sent": 250, "held": 0, "other": 0}))
            ended = await client.post(f"/api/v1/campaigns/{campaign}/end", headers=org.auth)
            assert ended.status_code == 200, ended.text
            # On the other number: ten contacts the portfolio messaged today and five new ones.
            again = await make_active_campaign(
                database, org_id=org.id, number_id=second, audience={"tags_any": ["again"]}, variables=VARIABLES,
                media_row_id=media, bot_flow_id=bot, rate=80, name="Again",
            )
            await wait_until(lambda: _equals(counts(database, again), {"sent": 10, "held": 5, "other": 0}))
            rows = await messages(database, again)
        assert {c for c, m in rows.items() if m.status == "sent"} == set(ids[:10])
        assert {c for c, m in rows.items() if m.status == "pending"} == set(ids[250:])
        assert len(sim_messages(simulator.base_url)) == 260
        assert "131048" not in simulator.stats()["rejected"]


def _reached_first(first_send: datetime, held: list[CampaignMessage]) -> datetime:
    """The held messages wait until the portfolio's oldest reach (claimed just before the first send) leaves the window."""
    until = held[0].next_attempt_at
    assert until is not None
    assert first_send - timedelta(seconds=30) < until - timedelta(hours=24) <= first_send
    return until


async def _a_day_passes(database: Database, simulator: SimulatorServer, campaign_id: int) -> None:
    day = timedelta(hours=24, seconds=1)
    async with database.session() as session:
        for reach in (await session.execute(select(PortfolioReach))).scalars():
            reach.reached_at -= day
        await session.execute(update(CampaignMessage).where(CampaignMessage.campaign_id == campaign_id,
                                                            CampaignMessage.status == "pending")
                              .values(next_attempt_at=utcnow()))
    simulator.advance_clock(day.total_seconds())


async def _equals(found: object, expected: dict[str, int]) -> bool:
    return await found == expected  # type: ignore[misc]


class TestTierUnknownToHerald:
    async def test_metas_refusal_past_the_limit_pauses_the_campaign_with_the_reason(
        self, app: FastAPI, database: Database, org: OrgHandle, simulator: SimulatorServer
    ) -> None:
        """Herald was never told the tier (no number info read): Meta's 131048 past the limit is the
        safety net, and the campaign pauses rather than failing its contacts."""
        box: SecretBox = app.state.secret_box
        number_id = await make_number(database, box, org_id=org.id, base_url=simulator.base_url)
        await make_template(database, org_id=org.id)
        media = await make_media(database, org_id=org.id, number_id=number_id,
                                 media_id=await upload_banner(simulator.base_url))
        bot = await make_bot_flow(database, box, org_id=org.id)
        await make_contacts(database, org_id=org.id,
                            specs=[{"phone": fr_mobile(i), "name": f"C{i}", "tags": ["vip"]} for i in range(260)])
        campaign = await make_active_campaign(
            database, org_id=org.id, number_id=number_id, audience={"tags_any": ["vip"]}, variables=VARIABLES,
            media_row_id=media, bot_flow_id=bot, rate=80,
        )

        async def paused() -> bool:
            async with database.read_session() as session:
                return (await session.get(Campaign, campaign)).status == "paused"  # type: ignore[union-attr]

        async with running_worker(database, box):
            await wait_until(paused)
        async with database.read_session() as session:
            row = await session.get(Campaign, campaign)
        assert row is not None and row.status_reason == (
            "WhatsApp limits the messages this number may send (spam rate limit or messaging limit reached)")
        found = await counts(database, campaign)
        assert found["sent"] == 250 and found["other"] == 10  # the rest back to pending, not failed
        rows = await messages(database, campaign)
        assert {m.status for m in rows.values()} == {"sent", "pending"}


class TestPreviewInput:
    async def test_another_organizations_number_is_a_422_naming_the_field(
        self, client: httpx.AsyncClient, database: Database, org: OrgHandle, other_org: OrgHandle
    ) -> None:
        theirs = await make_number(database, org_id=other_org.id)
        answer = await client.post("/api/v1/campaigns/audience-preview", headers=org.auth, json={
            "audience": {"tags_any": ["vip"]}, "whatsapp_number_id": theirs})
        assert answer.status_code == 422, answer.text
        assert answer.json()["error"]["details"][0]["field"] == "whatsapp_number_id"

    async def test_a_number_without_a_known_limit_leaves_the_preview_as_it_was(
        self, client: httpx.AsyncClient, database: Database, org: OrgHandle
    ) -> None:
        mine = await make_number(database, org_id=org.id)
        answer = await client.post("/api/v1/campaigns/audience-preview", headers=org.auth, json={
            "audience": {"tags_any": ["vip"]}, "whatsapp_number_id": mine})
        without_cost = {k: v for k, v in answer.json().items() if k != "cost"}  # tests/pricing check the forecast
        assert without_cost == {"matched": 0, "eligible": 0, "excluded": {
            "contact opted out of marketing": 0, "already part of an active campaign": 0,
            "contact has an open case in Inbox": 0}}
