"""GET /campaigns/{id}/contacts and /contacts.csv: the contacts behind each number of the stats (an
outcome, a not-sent reason, a bot funnel step), as many as the number says, and their report rows."""

from __future__ import annotations

import csv
import io
from typing import Any

import httpx
import pytest

from herald.auth.principal import Role
from herald.kit.db import Database
from herald.reports.export import HEADER
from herald.reports.subsets import OUTCOMES
from tests.conftest import OrgHandle
from tests.reports.helpers import add_messages, at, make_campaign
from tests.reports.test_stats import NOT_ON_WHATSAPP, OPEN_CASE, get_stats, mixed_specs


async def campaign_with_steps(database: Database, org: OrgHandle) -> tuple[int, list[int]]:
    """The stats tests' 15 contacts; the two who replied reached ``offer_viewed``, one of them ``converted``."""
    specs = mixed_specs()
    specs[7]["steps"] = {"offer_viewed": at(200)}
    specs[9]["steps"] = {"offer_viewed": at(400), "converted": at(500)}
    campaign = await make_campaign(database, org_id=org.id)
    return campaign, await add_messages(database, org_id=org.id, campaign_id=campaign, specs=specs)


async def contacts(client: httpx.AsyncClient, org: OrgHandle, campaign: int, role: Role = Role.admin,
                   **params: Any) -> Any:
    answer = await client.get(f"/api/v1/campaigns/{campaign}/contacts", params=params, headers=org.headers(role))
    assert answer.status_code == 200, answer.text
    return answer.json()


class TestDrillDown:
    async def test_every_outcome_lists_as_many_contacts_as_its_number_counts(
        self, client: httpx.AsyncClient, database: Database, org: OrgHandle
    ) -> None:
        campaign, _ = await campaign_with_steps(database, org)
        stats = await get_stats(client, org, campaign)
        for outcome in OUTCOMES:
            body = await contacts(client, org, campaign, outcome=outcome, limit=100)
            assert body["total"] == len(body["items"]) == stats[outcome], outcome

    async def test_a_not_sent_reason_lists_its_contacts_with_the_reason(
        self, client: httpx.AsyncClient, database: Database, org: OrgHandle
    ) -> None:
        campaign, ids = await campaign_with_steps(database, org)
        body = await contacts(client, org, campaign, Role.viewer, reason=OPEN_CASE)
        assert body["subset"] == f"Not sent: {OPEN_CASE}"
        assert [c["contact_id"] for c in body["items"]] == ids[12:14]
        assert {c["error_msg"] for c in body["items"]} == {OPEN_CASE}
        failed = await contacts(client, org, campaign, reason=NOT_ON_WHATSAPP)  # accepted, then failed
        assert [(c["contact_id"], c["status"]) for c in failed["items"]] == [(ids[14], "failed")]

    async def test_a_funnel_step_lists_who_reached_it_and_combines_with_an_outcome(
        self, client: httpx.AsyncClient, database: Database, org: OrgHandle
    ) -> None:
        campaign, ids = await campaign_with_steps(database, org)
        viewed = await contacts(client, org, campaign, step="offer_viewed")
        assert [c["contact_id"] for c in viewed["items"]] == [ids[7], ids[9]]
        read_and_viewed = await contacts(client, org, campaign, step="offer_viewed", outcome="read")
        assert [c["contact_id"] for c in read_and_viewed["items"]] == [ids[9]]
        assert read_and_viewed["subset"] == "Read · reached “offer_viewed”"
        assert (await contacts(client, org, campaign, step="nobody_got_here"))["total"] == 0

    async def test_pages_follow_the_cursor_in_contact_order(
        self, client: httpx.AsyncClient, database: Database, org: OrgHandle
    ) -> None:
        campaign, ids = await campaign_with_steps(database, org)
        first = await contacts(client, org, campaign, outcome="sent", limit=5)
        second = await contacts(client, org, campaign, outcome="sent", limit=5, cursor=first["next_cursor"])
        assert second["next_cursor"] is None and first["total"] == second["total"] == 8
        assert [c["contact_id"] for c in first["items"] + second["items"]] == ids[3:11]

    @pytest.mark.parametrize(("params", "field"), [
        ({"outcome": "delivered-ish"}, "outcome"), ({"reason": "x" * 501}, "reason"), ({"step": "s" * 101}, "step"),
        ({"limit": 0}, "limit"), ({"cursor": "not a cursor"}, "cursor"),
    ])
    async def test_bad_filters_are_refused_naming_the_field(
        self, client: httpx.AsyncClient, database: Database, org: OrgHandle, params: dict[str, Any], field: str
    ) -> None:
        campaign, _ = await campaign_with_steps(database, org)
        for path in ("contacts", "contacts.csv"):
            if path == "contacts.csv" and field in ("limit", "cursor"):
                continue
            answer = await client.get(f"/api/v1/campaigns/{campaign}/{path}", params=params, headers=org.auth)
            assert answer.status_code == 422, answer.text
            assert [d["field"] for d in answer.json()["error"]["details"]] == [field]

    async def test_another_orgs_campaign_is_not_found(
        self, client: httpx.AsyncClient, database: Database, org: OrgHandle, other_org: OrgHandle
    ) -> None:
        campaign, _ = await campaign_with_steps(database, org)
        for path in ("contacts", "contacts.csv"):
            answer = await client.get(f"/api/v1/campaigns/{campaign}/{path}", headers=other_org.auth)
            assert answer.status_code == 404


class TestSubsetCsv:
    async def test_the_subset_csv_is_the_reports_rows_of_those_contacts_under_the_same_header(
        self, client: httpx.AsyncClient, database: Database, org: OrgHandle
    ) -> None:
        campaign, ids = await campaign_with_steps(database, org)
        report = (await client.get(f"/api/v1/campaigns/{campaign}/report.csv", headers=org.auth)).content
        answer = await client.get(f"/api/v1/campaigns/{campaign}/contacts.csv", params={"step": "offer_viewed"},
                                  headers=org.headers(Role.viewer))
        assert answer.status_code == 200
        assert answer.headers["content-disposition"] == f'attachment; filename="campaign-{campaign}-contacts.csv"'
        assert answer.content.startswith(HEADER)
        wanted = {str(ids[7]), str(ids[9])}
        full = [line for line in report.split(b"\r\n")[1:] if line.split(b",")[0].decode() in wanted]
        assert answer.content == HEADER + b"".join(line + b"\r\n" for line in full)
        rows = list(csv.reader(io.StringIO(answer.text)))
        assert rows[2][10] == '{"offer_viewed":"2026-11-27T10:06:40Z","converted":"2026-11-27T10:08:20Z"}'

    async def test_a_reason_subset_in_pages_holds_every_contact_once(
        self, client: httpx.AsyncClient, database: Database, org: OrgHandle
    ) -> None:
        from herald.reports import export

        campaign, ids = await campaign_with_steps(database, org)
        from herald.reports.subsets import Subset

        chunks = [chunk async for chunk in export.report_chunks(
            database, campaign_id=campaign, page_size=2, subset=Subset(outcome="not_sent"))]
        rows = list(csv.reader(io.StringIO(b"".join(chunks).decode())))
        assert [int(row[0]) for row in rows[1:]] == ids[12:15]
