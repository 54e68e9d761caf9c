"""GET /campaigns/{id}/stats and /timeline on hand-built campaigns."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from typing import Any

import httpx

from herald.auth.principal import Role
from herald.campaigns import counters
from herald.kit.db import Database
from herald.kit.types import utcnow
from tests.conftest import OrgHandle
from tests.reports.helpers import add_messages, at, make_campaign, recount

OPEN_CASE = "contact has an open case in Inbox"
NOT_ON_WHATSAPP = "not a valid WhatsApp user"


def mixed_specs() -> list[dict[str, Any]]:
    """15 contacts: 3 pending, 8 sent (6 received, 3 read, 2 replied), 1 unknown, 3 not sent."""
    phone = iter(f"+3361000{i:04d}" for i in range(100))
    specs: list[dict[str, Any]] = [
        {"status": "pending"}, {"status": "pending"}, {"status": "sending"},
        {"status": "sent", "sent_at": at(0)}, {"status": "sent", "sent_at": at(61)},
        {"status": "delivered", "sent_at": at(0), "delivered_at": at(10)},
        {"status": "delivered", "sent_at": at(0), "delivered_at": at(20)},
        {"status": "delivered", "sent_at": at(0), "delivered_at": at(30), "replied_at": at(100)},
        {"status": "read", "sent_at": at(60), "delivered_at": at(100), "read_at": at(120)},
        {"status": "read", "sent_at": at(60), "delivered_at": at(110), "read_at": at(180), "replied_at": at(360)},
        # `delivered` skipped: read still counts as received.
        {"status": "read", "sent_at": at(120), "read_at": at(300)},
        {"status": "unknown"},
        {"status": "not_sent", "error_msg": OPEN_CASE}, {"status": "not_sent", "error_msg": OPEN_CASE},
        {"status": "failed", "sent_at": at(0), "failed_at": at(5), "error_msg": NOT_ON_WHATSAPP},
    ]
    return [{"phone": next(phone), **spec} for spec in specs]


async def get_stats(client: httpx.AsyncClient, org: OrgHandle, campaign_id: int, role: Role = Role.admin) -> Any:
    response = await client.get(f"/api/v1/campaigns/{campaign_id}/stats", headers=org.headers(role))
    assert response.status_code == 200, response.text
    return response.json()


# No status priced anything, no budget: the stats' cost block at zero (docs/costs.md).
NO_COST = {"currency": "USD", "actual": 0.0, "committed": 0.0, "budget": None, "budget_used_pct": None}
# The quality breaker's gauges at the defaults, nothing counted (docs/quality.md).
NO_BREAKER = {
    "enabled": True, "window": 200, "min_sends": 50, "window_sends": 0, "number_quality": True, "template_quality": True,
    "gauges": [
        {"rule": "failure_rate", "label": "Failure rate", "value": 0.0, "threshold": 10.0, "unit": "%",
         "judged": False, "tripped": False},
        {"rule": "opt_out_rate", "label": "Opt-out rate", "value": 0.0, "threshold": 2.0, "unit": "%",
         "judged": False, "tripped": False},
        {"rule": "block_signals", "label": "Block signals (131048/131049)", "value": 0.0, "threshold": 20.0,
         "unit": "count", "judged": True, "tripped": False},
    ],
}


class TestCampaignStats:
    async def test_body_counts_every_bucket_and_percentage(
        self, client: httpx.AsyncClient, database: Database, org: OrgHandle
    ) -> None:
        campaign = await make_campaign(database, org_id=org.id)
        await add_messages(database, org_id=org.id, campaign_id=campaign, specs=mixed_specs())

        body = await get_stats(client, org, campaign)

        assert body == {
            "targeted": 15, "pending": 3, "sent": 8, "received": 6, "read": 3, "replied": 2, "unknown": 1,
            "not_sent": 3, "holdout": 0, "not_sent_reasons": {OPEN_CASE: 2, NOT_ON_WHATSAPP: 1},
            "received_pct": 75.0, "read_pct": 50.0, "replied_pct": 33.3,
            "waiting": 0, "waiting_reasons": {}, "next_send_at": None, "cost": NO_COST,
            "breaker": NO_BREAKER,
        }
        async with database.read_session() as session:
            assert await recount(session, campaign) == body

    async def test_percentages_are_zero_when_nothing_to_divide_by(
        self, client: httpx.AsyncClient, database: Database, org: OrgHandle
    ) -> None:
        campaign = await make_campaign(database, org_id=org.id)
        assert await get_stats(client, org, campaign) == {
            "targeted": 0, "pending": 0, "sent": 0, "received": 0, "read": 0, "replied": 0, "unknown": 0,
            "not_sent": 0, "holdout": 0, "not_sent_reasons": {}, "received_pct": 0.0, "read_pct": 0.0, "replied_pct": 0.0,
            "waiting": 0, "waiting_reasons": {}, "next_send_at": None, "cost": NO_COST,
            "breaker": NO_BREAKER,
        }
        await add_messages(database, org_id=org.id, campaign_id=campaign, specs=[
            {"phone": "+33610000001", "status": "sent", "sent_at": at(0)},
            {"phone": "+33610000002", "status": "sent", "sent_at": at(0)},
            {"phone": "+33610000003", "status": "sent", "sent_at": at(0)},
        ])
        body = await get_stats(client, org, campaign)
        assert (body["sent"], body["received_pct"], body["read_pct"], body["replied_pct"]) == (3, 0.0, 0.0, 0.0)

    async def test_percentages_have_one_decimal(
        self, client: httpx.AsyncClient, database: Database, org: OrgHandle
    ) -> None:
        campaign = await make_campaign(database, org_id=org.id)
        specs = [{"phone": f"+3361000{i:04d}", "status": "sent", "sent_at": at(0)} for i in range(4)]
        specs += [{"phone": f"+3362000{i:04d}", "status": "delivered", "sent_at": at(0), "delivered_at": at(1)}
                  for i in range(2)]
        specs.append({"phone": "+33630000000", "status": "read", "sent_at": at(0), "read_at": at(2)})
        await add_messages(database, org_id=org.id, campaign_id=campaign, specs=specs)
        body = await get_stats(client, org, campaign)
        # 3/7 received, 1/3 read.
        assert (body["received_pct"], body["read_pct"]) == (42.9, 33.3)

    async def test_reasons_counted_back_to_zero_are_left_out(
        self, client: httpx.AsyncClient, database: Database, org: OrgHandle
    ) -> None:
        campaign = await make_campaign(database, org_id=org.id)
        async with database.session() as session:
            await counters.add_not_sent_reasons(session, campaign_id=campaign, reasons=Counter({"campaign ended": 2}))
        async with database.session() as session:
            await counters.add_not_sent_reasons(session, campaign_id=campaign, reasons=Counter({"campaign ended": -2}))
            await counters.add(session, campaign_id=campaign, targeted=1, not_sent=1)
            await counters.add_not_sent_reasons(session, campaign_id=campaign, reasons=Counter({OPEN_CASE: 1}))
        assert (await get_stats(client, org, campaign))["not_sent_reasons"] == {OPEN_CASE: 1}

    async def test_pending_messages_due_later_are_counted_as_waiting_with_their_reason(
        self, client: httpx.AsyncClient, database: Database, org: OrgHandle
    ) -> None:
        campaign = await make_campaign(database, org_id=org.id)
        soon, later = utcnow() + timedelta(hours=2), utcnow() + timedelta(hours=20)
        limit, capped = "messaging limit 250/24 h reached", "retrying after Meta's per-user marketing limit (131049)"
        await add_messages(database, org_id=org.id, campaign_id=campaign, specs=[
            {"phone": "+33610000001", "status": "pending", "wait_reason": limit, "next_attempt_at": later},
            {"phone": "+33610000002", "status": "pending", "wait_reason": limit, "next_attempt_at": later},
            {"phone": "+33610000003", "status": "pending", "wait_reason": capped, "next_attempt_at": soon},
            {"phone": "+33610000004", "status": "pending"},  # due now: pending, not waiting
            {"phone": "+33610000005", "status": "pending", "wait_reason": limit,  # its time has come
             "next_attempt_at": utcnow() - timedelta(seconds=1)},
            {"phone": "+33610000006", "status": "sent", "sent_at": at(0), "wait_reason": limit},  # sent since
        ])

        body = await get_stats(client, org, campaign)

        assert (body["pending"], body["waiting"], body["waiting_reasons"]) == (5, 3, {limit: 2, capped: 1})
        assert datetime.fromisoformat(body["next_send_at"]) == soon
        async with database.read_session() as session:
            assert (await recount(session, campaign))["waiting_reasons"] == body["waiting_reasons"]

    async def test_viewer_reads_and_other_org_gets_404(
        self, client: httpx.AsyncClient, database: Database, org: OrgHandle, other_org: OrgHandle
    ) -> None:
        campaign = await make_campaign(database, org_id=org.id)
        assert (await get_stats(client, org, campaign, Role.viewer))["targeted"] == 0
        for path in ("stats", "timeline", "events", "report.csv"):
            response = await client.get(f"/api/v1/campaigns/{campaign}/{path}", headers=other_org.auth)
            assert response.status_code == 404, path
            assert response.json()["error"]["code"] == "campaign_not_found"
        response = await client.get(f"/api/v1/campaigns/{campaign}/stats")
        assert response.status_code == 401


class TestCampaignTimeline:
    async def test_sends_per_minute_and_latency_percentiles(
        self, client: httpx.AsyncClient, database: Database, org: OrgHandle
    ) -> None:
        campaign = await make_campaign(database, org_id=org.id)
        await add_messages(database, org_id=org.id, campaign_id=campaign, specs=mixed_specs())

        response = await client.get(f"/api/v1/campaigns/{campaign}/timeline", headers=org.headers(Role.viewer))

        assert response.status_code == 200, response.text
        body = response.json()
        assert body["sends_per_minute"] == [
            {"minute": "2026-11-27T10:00:00Z", "count": 4},
            {"minute": "2026-11-27T10:01:00Z", "count": 3},
            {"minute": "2026-11-27T10:02:00Z", "count": 1},
        ]
        # delivered − sent: 10, 20, 30, 40, 50 s; read − sent: 60, 120, 180 s; replied − sent: 100, 300 s.
        assert body["latency"] == {
            "delivered": {"p50_s": 30.0, "p90_s": 46.0, "n": 5},
            "read": {"p50_s": 120.0, "p90_s": 168.0, "n": 3},
            "replied": {"p50_s": 200.0, "p90_s": 280.0, "n": 2},
        }

    async def test_empty_campaign_has_no_latency(
        self, client: httpx.AsyncClient, database: Database, org: OrgHandle
    ) -> None:
        campaign = await make_campaign(database, org_id=org.id)
        body = (await client.get(f"/api/v1/campaigns/{campaign}/timeline", headers=org.auth)).json()
        empty = {"p50_s": None, "p90_s": None, "n": 0}
        assert body == {"sends_per_minute": [], "latency": {"delivered": empty, "read": empty, "replied": empty}}
