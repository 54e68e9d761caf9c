"""``/readyz`` is ready only when the database takes writes, and its answer never carries the
driver's error text (issue 17, item 10). SQLite and PostgreSQL; the databases made unreachable or
read-only as in tests/security/test_database_down.py."""

from __future__ import annotations

import logging
from pathlib import Path

import httpx
import pytest

from herald.config import Settings
from tests.security.test_database_down import (
    DRIVER_WORDS,
    app_on,
    missing_database_url,
    read_only_url,
    unreachable_url,
)


def assert_not_ready(response: httpx.Response, reason: str) -> None:
    assert response.status_code == 503
    assert response.json() == {"status": "unavailable", "reason": reason}


class TestReadiness:
    async def test_ready_when_the_database_takes_writes(self, client: httpx.AsyncClient) -> None:
        answer = await client.get("/readyz")
        assert answer.status_code == 200 and answer.json() == {"status": "ready"}

    async def test_not_ready_when_the_database_is_read_only(self, db_url: str, settings: Settings) -> None:
        async with app_on(read_only_url(db_url), settings) as (_, http):
            assert_not_ready(await http.get("/readyz"), "database is read-only")
            assert (await http.get("/healthz")).status_code == 200

    async def test_not_ready_when_the_database_is_unreachable_and_the_driver_text_is_logged_only(
        self, db_url: str, settings: Settings, tmp_path: Path, caplog: pytest.LogCaptureFixture
    ) -> None:
        with caplog.at_level(logging.WARNING, logger="herald.ops"):
            async with app_on(unreachable_url(db_url, tmp_path), settings) as (_, http):
                answer = await http.get("/readyz")
        assert_not_ready(answer, "database unavailable")
        assert not [w for w in DRIVER_WORDS if w.lower() in answer.text.lower()]
        logged = "\n".join(r.getMessage() + "\n" + (r.exc_text or "") for r in caplog.records)
        assert "not ready: database unavailable" in logged
        assert caplog.records[-1].exc_info is not None  # the driver's error, for the operator

    async def test_not_ready_when_the_database_does_not_exist(self, settings: Settings) -> None:
        if settings.is_sqlite:
            pytest.skip("SQLite creates a missing file")
        async with app_on(missing_database_url(settings.database_url), settings) as (_, http):
            answer = await http.get("/readyz")
        assert_not_ready(answer, "database unavailable")
        assert "herald_no_such_database" not in answer.text
