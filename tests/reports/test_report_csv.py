"""GET /campaigns/{id}/report.csv: header, quoting, the injection guard, times and funnel steps."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import httpx

from herald.auth.principal import Role
from herald.kit.csv import guard_cell
from herald.kit.db import Database
from herald.reports.export import report_chunks
from tests.conftest import OrgHandle
from tests.reports.helpers import add_messages, at, make_campaign

HEADER = (
    "contact_id,phone,name,status,error_msg,sent_at,delivered_at,read_at,replied_at,wamid,time_per_funnel_step,"
    "wa_user_id,attempts,last_error,waiting,pricing_category,price,variant"
)
TRICKY_NAMES = ["Doe, Jane", 'Jane "JD" Doe', "Jane\nDoe", "=cmd|' /C calc'!A0", "+1", "-1", "@x", "\tx", "\rx"]


def parse(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text, newline="")))


async def download(client: httpx.AsyncClient, org: OrgHandle, campaign_id: int, role: Role = Role.admin) -> str:
    response = await client.get(f"/api/v1/campaigns/{campaign_id}/report.csv", headers=org.headers(role))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    assert response.headers["content-disposition"] == f'attachment; filename="campaign-{campaign_id}-report.csv"'
    return response.text


def spec(i: int, **fields: Any) -> dict[str, Any]:
    return {"phone": f"+3361000{i:04d}", "name": f"Contact {i}", "status": "pending", **fields}


class TestReportCsv:
    async def test_header_is_exact_and_one_row_per_targeted_contact(
        self, client: httpx.AsyncClient, database: Database, org: OrgHandle
    ) -> None:
        campaign = await make_campaign(database, org_id=org.id)
        other = await make_campaign(database, org_id=org.id, name="Other")
        ids = await add_messages(database, org_id=org.id, campaign_id=campaign, specs=[spec(i) for i in range(5)])
        await add_messages(database, org_id=org.id, campaign_id=other, specs=[spec(50)])

        text = await download(client, org, campaign, Role.viewer)

        assert text.split("\r\n", 1)[0] == HEADER
        rows = parse(text)
        assert [int(r["contact_id"]) for r in rows] == ids
        assert rows[0] == {
            "contact_id": str(ids[0]), "phone": "+33610000000", "name": "Contact 0", "status": "pending",
            "error_msg": "", "sent_at": "", "delivered_at": "", "read_at": "", "replied_at": "", "wamid": "",
            "time_per_funnel_step": "{}", "wa_user_id": "", "attempts": "0", "last_error": "", "waiting": "",
            "pricing_category": "", "price": "", "variant": "",
        }

    async def test_names_are_quoted_and_formulas_defused_but_phone_untouched(
        self, client: httpx.AsyncClient, database: Database, org: OrgHandle
    ) -> None:
        campaign = await make_campaign(database, org_id=org.id)
        specs = [spec(i, name=name, status="failed", error_msg=name, sent_at=at(0), failed_at=at(1))
                 for i, name in enumerate(TRICKY_NAMES)]
        await add_messages(database, org_id=org.id, campaign_id=campaign, specs=specs)

        rows = parse(await download(client, org, campaign))

        assert [r["name"] for r in rows] == [
            "Doe, Jane", 'Jane "JD" Doe', "Jane\nDoe", "'=cmd|' /C calc'!A0", "'+1", "'-1", "'@x", "'\tx", "'\rx",
        ]
        assert [r["error_msg"] for r in rows] == [r["name"] for r in rows]
        assert [r["phone"] for r in rows] == [s["phone"] for s in specs]
        assert all(r["phone"].startswith("+336") for r in rows)

    async def test_times_are_iso_utc_and_funnel_steps_json(
        self, client: httpx.AsyncClient, database: Database, org: OrgHandle
    ) -> None:
        campaign = await make_campaign(database, org_id=org.id)
        await add_messages(database, org_id=org.id, campaign_id=campaign, specs=[
            spec(1, status="read", wamid="wamid.HBgL1", sent_at=at(0.25), delivered_at=at(10), read_at=at(70),
                 replied_at=at(3600), steps={"clicked": at(3700), "bought": at(7200)}),
        ])

        (row,) = parse(await download(client, org, campaign))

        assert (row["status"], row["wamid"]) == ("read", "wamid.HBgL1")
        assert (row["sent_at"], row["delivered_at"], row["read_at"], row["replied_at"]) == (
            "2026-11-27T10:00:00Z", "2026-11-27T10:00:10Z", "2026-11-27T10:01:10Z", "2026-11-27T11:00:00Z",
        )
        assert json.loads(row["time_per_funnel_step"]) == {
            "clicked": "2026-11-27T11:01:40Z", "bought": "2026-11-27T12:00:00Z",
        }

    async def test_error_shown_only_for_messages_that_did_not_arrive(
        self, client: httpx.AsyncClient, database: Database, org: OrgHandle
    ) -> None:
        campaign = await make_campaign(database, org_id=org.id)
        await add_messages(database, org_id=org.id, campaign_id=campaign, specs=[
            # A retried 131049 leaves its text behind; the message arrived after all.
            spec(1, status="delivered", error_msg="rate limited", sent_at=at(0), delivered_at=at(1)),
            spec(2, status="read", error_msg="rate limited", sent_at=at(0), read_at=at(1)),
            spec(3, status="sent", error_msg="rate limited", sent_at=at(0)),
            spec(4, status="pending", error_msg="rate limited"),
            spec(5, status="not_sent", error_msg="contact has an open case in Inbox"),
            spec(6, status="failed", error_msg="not a valid WhatsApp user", sent_at=at(0), failed_at=at(1)),
        ])

        rows = parse(await download(client, org, campaign))

        assert [(r["status"], r["error_msg"]) for r in rows] == [
            ("delivered", ""), ("read", ""), ("sent", ""), ("pending", ""),
            ("not_sent", "contact has an open case in Inbox"), ("failed", "not a valid WhatsApp user"),
        ]

    async def test_pages_join_into_the_same_file(self, database: Database, org: OrgHandle) -> None:
        campaign = await make_campaign(database, org_id=org.id)
        specs = [spec(i, steps={"step": at(i)} if i % 2 else {}) for i in range(7)]
        await add_messages(database, org_id=org.id, campaign_id=campaign, specs=specs)

        whole = b"".join([c async for c in report_chunks(database, campaign_id=campaign)])
        chunks = [c async for c in report_chunks(database, campaign_id=campaign, page_size=3)]

        assert len(chunks) == 1 + 3
        assert b"".join(chunks) == whole
        assert len(parse(whole.decode())) == 7


class TestGuardCell:
    def test_prefixes_formula_starts_only(self) -> None:
        assert [guard_cell(v) for v in ("=1", "+1", "-1", "@a", "\t1", "\r1", "a=1", "", None)] == [
            "'=1", "'+1", "'-1", "'@a", "'\t1", "'\r1", "a=1", "", "",
        ]
