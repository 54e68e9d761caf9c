"""CSV import over generated files: every data row counted once, every rejection on a bad row,
every good row stored with its tags and valued tags (the importer service on a real database)."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from herald.contacts.e164 import to_e164
from herald.contacts.importer import import_contacts
from herald.kit.db import Database
from tests.properties.helpers import new_org, stored_contacts

GOOD_PHONES = ["+33612345601", "33612345602", "+33 6 12 34 56 03", "+14155552671", "+44 7911 123456"]
BAD_PHONES = ["123", "nope", "+1", "+33 12", "0612345678", "  "]
# Names with the characters that break naive CSV handling: separators, quotes, line breaks, unicode.
name_text = st.text(
    alphabet=st.one_of(st.sampled_from(",;\"'\n\r\t =+-@"), st.characters(codec="utf-8", exclude_characters="\x00")),
    max_size=30,
)
tag_names = st.text(alphabet=st.characters(codec="utf-8", exclude_characters=";\x00\r\n"), min_size=1, max_size=12)


@dataclass(frozen=True)
class Row:
    phone: str
    name: str
    tags: tuple[str, ...]
    plan: str

    def fields(self) -> list[str]:
        return [self.phone, self.name, ";".join(self.tags), self.plan]

    @property
    def blank(self) -> bool:
        return not any(f.strip() for f in self.fields())

    @property
    def good(self) -> bool:
        return to_e164(self.phone.strip()) is not None


rows = st.builds(
    Row,
    phone=st.sampled_from(GOOD_PHONES + BAD_PHONES),
    name=name_text,
    tags=st.lists(tag_names, max_size=3).map(tuple),
    plan=st.sampled_from(["", "free", "pro", "ünïcødé, \"quoted\""]),
)


def write_csv(data: list[Row], delimiter: str) -> tuple[bytes, list[int]]:
    """The file's bytes and the physical line each data row starts on (header = line 1)."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\r\n")
    writer.writerow(["phone", "name", "tags", "vt:plan"])
    starts = []
    for row in data:
        starts.append(out.getvalue().count("\n") + 1)
        writer.writerow(row.fields())
    return out.getvalue().encode("utf-8"), starts


class TestImportProperties:
    @pytest.mark.slow
    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(data=st.lists(rows, max_size=12), delimiter=st.sampled_from([",", ";"]), batch_rows=st.integers(1, 5))
    async def test_every_row_is_counted_once_and_lands_or_is_rejected_by_its_line(
        self, database: Database, data: list[Row], delimiter: str, batch_rows: int
    ) -> None:
        org_id = await new_org(database)
        raw, starts = write_csv(data, delimiter)

        result = await import_contacts(
            database, org_id=org_id, stream=io.BytesIO(raw), batch_rows=batch_rows, parse_in_thread=False
        )

        counted = [(row, line) for row, line in zip(data, starts, strict=True) if not row.blank]
        bad_lines = {line for row, line in counted if not row.good}
        good = [row for row, _ in counted if row.good]
        assert result.imported + result.updated + result.rejected_count == len(counted)
        assert result.rejected_count == len(result.rejected) == len(bad_lines)
        assert {r.line for r in result.rejected} == bad_lines
        assert result.imported == len({to_e164(r.phone) for r in good})

        stored = await stored_contacts(database, org_id)
        assert set(stored) == {to_e164(r.phone) for r in good}
        for row in good:
            contact = stored[to_e164(row.phone) or ""]
            assert {t.strip() for t in row.tags if t.strip()} <= contact.tags
        for phone, contact in stored.items():
            mine = [r for r in good if to_e164(r.phone) == phone]
            names = [r.name.strip() for r in mine if r.name.strip()]
            plans = [r.plan for r in mine if r.plan]
            assert contact.name == (names[-1] if names else None)
            assert contact.valued_tags == ({"plan": plans[-1]} if plans else {})
            assert contact.tags == {t.strip() for r in mine for t in r.tags if t.strip()}
