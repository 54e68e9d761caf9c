"""A phone given twice in one CSV is reported per line ("line 7: duplicate of line 3"); the later row
still wins, as the import always did (docs/architecture.md, "Contacts, tags and valued tags")."""

from __future__ import annotations

import io

import httpx

from herald.contacts.commands import summary_lines
from herald.contacts.first_lines import FirstLines
from herald.contacts.importer import import_contacts
from herald.kit.db import Database
from tests.conftest import OrgHandle

IMPORT = "/api/v1/contacts/import"
# Lines: 1 header, 2 Ana, 3 Bob, 4 bad, 5 Ana written another way, 6 Cid, 7 Bob again.
CSV = (
    b"phone,name,tags\n"
    b"+33600000001,Ana,vip\n"
    b"+33600000002,Bob,vip\n"
    b"123,Bad,\n"
    b"+33 6 00 00 00 01,Ana Lima,new\n"
    b"+33600000003,Cid,\n"
    b"33600000002,Bob B.,\n"
)


class TestDuplicatePhonesInOneFile:
    async def test_each_repeated_phone_is_reported_with_the_line_it_repeats_and_the_later_row_wins(
        self, client: httpx.AsyncClient, org: OrgHandle
    ) -> None:
        response = await client.post(IMPORT, files={"file": ("c.csv", CSV, "text/csv")}, headers=org.auth)
        assert response.status_code == 200, response.text
        result = response.json()
        assert (result["imported"], result["updated"], result["rejected_count"]) == (3, 2, 1)
        assert result["duplicates"] == [{"line": 5, "duplicate_of": 2}, {"line": 7, "duplicate_of": 3}]
        assert result["duplicate_count"] == 2
        items = (await client.get("/api/v1/contacts", headers=org.auth)).json()["items"]
        names = {c["phone"]: c["name"] for c in items}
        assert names == {"+33600000001": "Ana Lima", "+33600000002": "Bob B.", "+33600000003": "Cid"}

    async def test_a_repeat_in_a_later_batch_is_found_and_the_cli_prints_it(
        self, database: Database, org: OrgHandle
    ) -> None:
        result = await import_contacts(database, org_id=org.id, stream=io.BytesIO(CSV), batch_rows=2,
                                       parse_in_thread=False)
        assert [(d.line, d.duplicate_of) for d in result.duplicates] == [(5, 2), (7, 3)]
        lines = summary_lines(result)
        assert lines[0] == "imported 3, updated 2, rejected 1, duplicates 2"
        assert "line 7: duplicate of line 3 (imported over it: later rows win)" in lines


def test_first_lines_remembers_every_phone_past_its_growth() -> None:
    seen = FirstLines()
    for n in range(20_000):
        assert seen.first(f"+336{n:08d}", n + 2) is None
    assert seen.first("+33600000000", 99_999) == 2
    assert seen.first("+33600019999", 99_999) == 20_001
    assert seen.first("+14155552671", 99_999) is None
