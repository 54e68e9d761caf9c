"""Hostile CSV files: a 1 GB upload refused before it is read, huge fields, wrong encodings, and
formula injection on export."""

from __future__ import annotations

import io
import time
from collections.abc import AsyncIterator

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from herald.config import Settings
from herald.contacts.csv_reader import MAX_LINE_BYTES
from herald.contacts.importer import import_contacts
from herald.kit.csv import FORMULA_TRIGGERS, guard_cell
from herald.kit.db import Database
from tests.conftest import OrgHandle
from tests.properties.helpers import new_org, stored_contacts

IMPORT = "/api/v1/contacts/import"
ONE_GB = 1024**3
BOUNDARY = "herald-test-boundary"


class CountingBody:
    """A 1 GB multipart body produced on demand, counting what the server pulled from it."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.sent = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.csv\"\r\n"
               "Content-Type: text/csv\r\n\r\nphone\r\n").encode()
        chunk = b"+33612345678\r\n" * 4096
        while self.sent < self.size:
            self.sent += len(chunk)
            yield chunk


@pytest.fixture
def settings_limit(settings: Settings) -> None:
    """A 2 MiB upload limit, so the streamed case is cut off after a few MiB."""
    settings.max_upload_bytes = 2 * 1024 * 1024


class TestHugeUploads:
    async def test_a_declared_1_gb_file_is_refused_at_once_with_a_clear_message(
        self, client: httpx.AsyncClient, org: OrgHandle
    ) -> None:
        body = CountingBody(ONE_GB)
        headers = {**org.auth, "content-type": f"multipart/form-data; boundary={BOUNDARY}",
                   "content-length": str(ONE_GB)}
        started = time.monotonic()
        response = await client.post(IMPORT, content=body, headers=headers)
        assert response.status_code == 413
        error = response.json()["error"]
        assert error["code"] == "body_too_large"
        assert "MiB this route accepts" in error["message"]
        assert error["details"]["limit_bytes"] >= 200 * 1024 * 1024
        assert body.sent < 64 * 1024 * 1024
        assert time.monotonic() - started < 5

    async def test_an_undeclared_1_gb_stream_is_cut_off_near_the_limit(
        self, client: httpx.AsyncClient, org: OrgHandle, settings_limit: None
    ) -> None:
        body = CountingBody(ONE_GB)
        headers = {**org.auth, "content-type": f"multipart/form-data; boundary={BOUNDARY}"}
        response = await client.post(IMPORT, content=body, headers=headers)  # chunked: no content-length
        assert response.status_code == 413
        assert response.json()["error"]["code"] == "body_too_large"
        assert body.sent < 8 * 1024 * 1024


class TestHugeFieldsAndEncodings:
    async def test_a_line_past_1_mib_rejects_its_row_only(self, database: Database) -> None:
        org_id = await new_org(database)
        huge = b"x" * (MAX_LINE_BYTES + 10)
        data = b"phone,name\n+33612345601,Ana\n+33612345602," + huge + b"\n+33612345603,Cid\n"
        result = await import_contacts(database, org_id=org_id, stream=io.BytesIO(data), parse_in_thread=False)
        assert (result.imported, result.rejected_count) == (2, 1)
        assert result.rejected[0].line == 3
        assert "longer than 1024 KiB" in result.rejected[0].reason
        assert set(await stored_contacts(database, org_id)) == {"+33612345601", "+33612345603"}

    async def test_a_quoted_field_past_the_csv_field_limit_is_a_rejection_not_a_crash(
        self, database: Database
    ) -> None:
        org_id = await new_org(database)
        # 200 KiB in one quoted field spread over short lines: each line is small, the field is not.
        field = "\n".join(["y" * 1000] * 200)
        data = f'phone,name\n+33612345601,"{field}"\n+33612345602,Bob\n'.encode()
        result = await import_contacts(database, org_id=org_id, stream=io.BytesIO(data), parse_in_thread=False)
        assert result.rejected_count >= 1
        assert result.rejected[0].line == 2
        assert "+33612345601" not in await stored_contacts(database, org_id)

    async def test_a_latin_1_file_rejects_the_lines_it_cannot_read_by_number(self, database: Database) -> None:
        org_id = await new_org(database)
        data = "phone,name\n+33612345601,Zoë\n+33612345602,Bob\n".encode("latin-1")
        result = await import_contacts(database, org_id=org_id, stream=io.BytesIO(data), parse_in_thread=False)
        assert [(r.line, r.reason) for r in result.rejected] == [(2, "line is not valid UTF-8 text")]
        assert set(await stored_contacts(database, org_id)) == {"+33612345602"}

    async def test_a_utf_16_file_is_a_clear_422(self, client: httpx.AsyncClient, org: OrgHandle) -> None:
        data = "phone,name\n+33612345601,Ana\n".encode("utf-16")
        response = await client.post(IMPORT, files={"file": ("c.csv", data, "text/csv")}, headers=org.auth)
        assert response.status_code == 422
        error = response.json()["error"]
        assert set(error) == {"code", "message", "details"}
        assert "header" in error["message"]

    async def test_binary_garbage_is_a_422_or_row_rejections_never_a_500(
        self, client: httpx.AsyncClient, org: OrgHandle
    ) -> None:
        data = bytes(range(256)) * 64
        response = await client.post(IMPORT, files={"file": ("c.csv", data, "text/csv")}, headers=org.auth)
        assert response.status_code in (200, 422), response.text
        assert "error" in response.json() or response.json()["imported"] == 0


class TestFormulaInjectionOnExport:
    @settings(max_examples=200, deadline=None)
    @given(value=st.text(max_size=30), trigger=st.sampled_from(FORMULA_TRIGGERS))
    def test_no_exported_cell_starts_a_formula_and_text_is_kept(self, value: str, trigger: str) -> None:
        for cell in (value, trigger + value):
            guarded = guard_cell(cell)
            assert not guarded.startswith(FORMULA_TRIGGERS)
            assert guarded in (cell, "'" + cell)

