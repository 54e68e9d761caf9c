"""The report CSV, cell by cell: the database formats the file, so every cell is checked against a
reference written with the csv module, ``guard_cell`` and orjson (what a user's spreadsheet reads)."""

from __future__ import annotations

import asyncio
import csv
import io
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import orjson

from herald.kit.csv import guard_cell
from herald.kit.db import Database
from herald.reports.export import report_chunks
from tests.conftest import OrgHandle
from tests.reports.helpers import add_messages, at, make_campaign

HEADER = (
    "contact_id,phone,name,status,error_msg,sent_at,delivered_at,read_at,replied_at,wamid,time_per_funnel_step,"
    "wa_user_id,attempts,last_error,waiting,pricing_category,price,variant"
)
ERROR_SHOWN = ("failed", "not_sent", "unknown")
# Cells that need quoting, a formula guard, both, or neither; non-ASCII; empty.
TRICKY = [
    "Doe, Jane", 'Jane "JD" Doe', "Jane\nDoe", "Jane\r\nDoe", "=HYPERLINK(\"http://x\",\"y\")", "=1,2", '+"1"',
    "-1", "@SUM(A1)", "\tx", "\rx", "'already quoted", "Zoë Ångström", "日本語", "émile", "A", "@", "", " x",
    "x,", '"', "a=1", "1+1",
]


def iso(value: datetime | None) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if value else ""


def expected_csv(ids: list[int], specs: list[dict[str, Any]]) -> bytes:
    """The file as the csv module writes it from the specs: docs/architecture.md's "Report CSV", in Python."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(HEADER.split(","))
    for contact_id, spec in zip(ids, specs, strict=True):
        steps = spec.get("steps") or {}
        writer.writerow([
            contact_id, spec["phone"], guard_cell(spec.get("name")), spec["status"],
            guard_cell(spec.get("error_msg")) if spec["status"] in ERROR_SHOWN else "",
            *(iso(spec.get(name)) for name in ("sent_at", "delivered_at", "read_at", "replied_at")),
            guard_cell(spec.get("wamid")),
            orjson.dumps({step: iso(when) for step, when in steps.items()}).decode() if steps else "{}",
            "",  # wa_user_id: these contacts have phones only
            spec.get("attempts", 0), guard_cell(spec.get("error_msg")),
            f"{spec['wait_reason']}; next send at {iso(spec['next_attempt_at'])}"
            if spec["status"] == "pending" and spec.get("wait_reason") and spec.get("next_attempt_at") else "",
            "", "",  # pricing_category, price: no status priced these messages
            "ABCD"[spec["variant"]] if spec.get("variant") is not None else "",
        ])
    return buffer.getvalue().encode()


async def export(database: Database, campaign_id: int, page_size: int = 4) -> bytes:
    return b"".join([chunk async for chunk in report_chunks(database, campaign_id=campaign_id, page_size=page_size)])


def spec(i: int, **fields: Any) -> dict[str, Any]:
    return {"phone": f"+3361000{i:04d}", "name": f"Contact {i}", "status": "pending", **fields}


class TestReportCells:
    async def test_text_cells_are_quoted_and_guarded_as_the_csv_module_would(
        self, database: Database, org: OrgHandle
    ) -> None:
        campaign = await make_campaign(database, org_id=org.id)
        specs = [
            spec(i, name=value, status=("failed", "not_sent", "unknown", "delivered")[i % 4], error_msg=value,
                 wamid=value or None, sent_at=at(i))
            for i, value in enumerate(TRICKY)
        ]
        ids = await add_messages(database, org_id=org.id, campaign_id=campaign, specs=specs)

        body = await export(database, campaign)

        assert body == expected_csv(ids, specs)
        rows = list(csv.DictReader(io.StringIO(body.decode(), newline="")))
        assert [r["phone"] for r in rows] == [s["phone"] for s in specs]
        assert not any(r[column].startswith(("=", "+", "-", "@", "\t", "\r"))
                       for r in rows for column in ("name", "error_msg", "wamid"))

    async def test_missing_name_and_times_are_empty_cells(self, database: Database, org: OrgHandle) -> None:
        campaign = await make_campaign(database, org_id=org.id)
        specs = [spec(1, name=None), spec(2, status="sent", sent_at=at(0), wamid="wamid.2"),
                 spec(3, status="read", sent_at=at(0), read_at=at(5))]  # a read whose delivered was skipped
        ids = await add_messages(database, org_id=org.id, campaign_id=campaign, specs=specs)

        body = await export(database, campaign)

        assert body == expected_csv(ids, specs)
        assert body.split(b"\r\n")[1] == f"{ids[0]},+33610000001,,pending,,,,,,,{{}},,0,,,,,".encode()

    async def test_holdout_is_a_status_and_the_variant_the_last_column(self, database: Database, org: OrgHandle) -> None:
        campaign = await make_campaign(database, org_id=org.id)
        specs = [spec(1, status="holdout"), spec(2, status="sent", sent_at=at(0), wamid="wamid.2", variant=0),
                 spec(3, variant=3)]
        ids = await add_messages(database, org_id=org.id, campaign_id=campaign, specs=specs)

        body = await export(database, campaign)

        assert body == expected_csv(ids, specs)
        rows = list(csv.DictReader(io.StringIO(body.decode(), newline="")))
        assert [(r["status"], r["variant"]) for r in rows] == [("holdout", ""), ("sent", "A"), ("pending", "D")]

    async def test_times_are_utc_to_the_second_whatever_offset_they_were_given_in(
        self, database: Database, org: OrgHandle
    ) -> None:
        campaign = await make_campaign(database, org_id=org.id)
        paris = timezone(timedelta(hours=1))
        sent = datetime(2026, 11, 27, 23, 59, 59, 999_999, tzinfo=paris)  # 22:59:59Z, fraction cut
        specs = [spec(1, status="read", sent_at=sent, delivered_at=sent + timedelta(seconds=1),
                      read_at=sent + timedelta(hours=2), replied_at=sent + timedelta(days=35),
                      steps={"clicked": sent + timedelta(minutes=1)})]
        ids = await add_messages(database, org_id=org.id, campaign_id=campaign, specs=specs)

        body = await export(database, campaign)

        assert body == expected_csv(ids, specs)
        row = next(csv.DictReader(io.StringIO(body.decode(), newline="")))
        assert (row["sent_at"], row["delivered_at"], row["read_at"], row["replied_at"]) == (
            "2026-11-27T22:59:59Z", "2026-11-27T23:00:00Z", "2026-11-28T00:59:59Z", "2027-01-01T22:59:59Z",
        )
        assert row["time_per_funnel_step"] == '{"clicked":"2026-11-27T23:00:59Z"}'

    async def test_funnel_steps_go_to_their_own_contact_across_pages(self, database: Database, org: OrgHandle) -> None:
        campaign = await make_campaign(database, org_id=org.id)
        other = await make_campaign(database, org_id=org.id, name="Other")
        specs = [spec(i, steps={f'step "{i}", done': at(i)} if i % 3 == 0 else {}) for i in range(11)]
        ids = await add_messages(database, org_id=org.id, campaign_id=campaign, specs=specs)
        # The same contacts' steps in another campaign are not this report's.
        async with database.session() as session:
            from herald.models import FunnelEvent

            session.add_all([FunnelEvent(campaign_id=other, contact_id=i, step="elsewhere", at=at(0)) for i in ids])

        for page_size in (1, 3, 4, 11, 100):
            assert await export(database, campaign, page_size) == expected_csv(ids, specs)

    async def test_several_steps_make_one_json_object_in_time_order(self, database: Database, org: OrgHandle) -> None:
        campaign = await make_campaign(database, org_id=org.id)
        steps = {"clicked": at(60), "bought": at(7200), "asked, \"twice\"": at(30), "a tie": at(60)}
        await add_messages(database, org_id=org.id, campaign_id=campaign, specs=[spec(1, steps=steps), spec(2)])

        rows = list(csv.DictReader(io.StringIO((await export(database, campaign)).decode(), newline="")))

        assert rows[0]["time_per_funnel_step"] == (
            '{"asked, \\"twice\\"":"2026-11-27T10:00:30Z","a tie":"2026-11-27T10:01:00Z",'
            '"clicked":"2026-11-27T10:01:00Z","bought":"2026-11-27T12:00:00Z"}'
        )
        assert orjson.loads(rows[0]["time_per_funnel_step"]) == {step: iso(when) for step, when in steps.items()}
        assert rows[1]["time_per_funnel_step"] == "{}"

    async def test_attempts_last_error_and_why_a_pending_message_waits(self, database: Database, org: OrgHandle) -> None:
        campaign = await make_campaign(database, org_id=org.id)
        capped = "Meta chose not to deliver (per-user marketing limit)"
        specs = [
            # Held by the portfolio's messaging limit: the reason has a comma, so the cell is quoted.
            spec(1, attempts=0, wait_reason="messaging limit 2,000/24 h reached", next_attempt_at=at(86_400)),
            # Refused with 131049, waiting for its next try: the last error is shown, not error_msg.
            spec(2, attempts=2, error_msg=capped, wait_reason="retrying after 131049", next_attempt_at=at(3_600)),
            # Sent at last: a reason it once waited for is not shown any more.
            spec(3, status="sent", sent_at=at(0), attempts=3, error_msg=capped, wait_reason="retrying after 131049",
                 next_attempt_at=None),
            spec(4, status="failed", sent_at=at(0), failed_at=at(1), attempts=4, error_msg=capped),
        ]
        ids = await add_messages(database, org_id=org.id, campaign_id=campaign, specs=specs)

        body = await export(database, campaign)

        assert body == expected_csv(ids, specs)
        rows = list(csv.DictReader(io.StringIO(body.decode(), newline="")))
        assert [(r["attempts"], r["last_error"], r["waiting"]) for r in rows] == [
            ("0", "", "messaging limit 2,000/24 h reached; next send at 2026-11-28T10:00:00Z"),
            ("2", capped, "retrying after 131049; next send at 2026-11-27T11:00:00Z"),
            ("3", capped, ""),
            ("4", capped, ""),
        ]
        assert [r["error_msg"] for r in rows] == ["", "", "", capped]
        assert b'"messaging limit 2,000/24 h reached; next send at 2026-11-28T10:00:00Z"' in body

    async def test_an_empty_campaign_is_the_header_alone(self, database: Database, org: OrgHandle) -> None:
        campaign = await make_campaign(database, org_id=org.id)

        assert await export(database, campaign) == (HEADER + "\r\n").encode()


class TestReportStream:
    async def test_a_download_cut_short_leaves_no_read_running(self, database: Database, org: OrgHandle) -> None:
        campaign = await make_campaign(database, org_id=org.id)
        await add_messages(database, org_id=org.id, campaign_id=campaign, specs=[spec(i) for i in range(9)])

        chunks = report_chunks(database, campaign_id=campaign, page_size=2)
        assert (await anext(chunks)).startswith(HEADER.encode())
        assert (await anext(chunks)).count(b"\r\n") == 2
        await chunks.aclose()  # what Starlette does when the client goes away

        reads = [task for task in asyncio.all_tasks() if "_page_" in task.get_coro().__qualname__]  # type: ignore[union-attr]
        assert reads == []
        assert await export(database, campaign) == (await export(database, campaign, page_size=100))
