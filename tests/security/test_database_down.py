"""With its database down or read-only, Herald answers 503 with the error shape (a page in the UI),
never a bare 500 and never the driver's words; an ordinary database bug stays a 500 (issue 17,
item 10). SQLite and PostgreSQL.

"Down" is a database Herald cannot use: PostgreSQL on a closed port or a database that does not
exist, SQLite on a file that is not a database (a directory that does not exist, "unable to open",
is classified the same: see the last test). "Read-only" is a real one opened read-only:
SQLite's ``mode=ro``, PostgreSQL's ``default_transaction_read_only`` (what a standby answers).
The shared PostgreSQL server is never stopped.
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, OperationalError

from herald.app import create_app
from herald.config import Settings
from herald.kit.db import Database
from herald.kit.db_errors import Unavailability, unavailability
from herald.kit.deps import SessionDep
from tests.conftest import OrgHandle
from tests.webhooks.helpers import status, status_body

DRIVER_WORDS = ("refused", "127.0.0.1", "port 1", "FATAL", "does not exist", "readonly", "read-only transaction",
                "attempt to write", "unable to open", "sqlite3", "psycopg", "OperationalError", "Traceback")


def unreachable_url(db_url: str, tmp_path: Path) -> str:
    if db_url.startswith("sqlite"):
        garbage = tmp_path / "not-a-database.db"  # a volume that holds something else: "file is not a database"
        garbage.write_bytes(b"this is not an SQLite database " * 512)
        return f"sqlite+aiosqlite:///{garbage}"
    return make_url(db_url).set(port=1).render_as_string(hide_password=False)


def missing_database_url(db_url: str) -> str:
    return make_url(db_url).set(database="herald_no_such_database").render_as_string(hide_password=False)


def read_only_url(db_url: str) -> str:
    """The same database, opened so that every write is refused by the database itself."""
    url = make_url(db_url)
    if db_url.startswith("sqlite"):
        return f"sqlite+aiosqlite:///file:{url.database}?mode=ro&uri=true"
    return url.update_query_dict({"options": "-c default_transaction_read_only=on"}).render_as_string(
        hide_password=False)


@asynccontextmanager
async def app_on(url: str, settings: Settings) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    """Herald on the database at ``url`` (the other settings as the test's)."""
    database = Database.connect(url)
    app = create_app(settings.model_copy(update={"database_url": url}), database)
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://herald.test") as http:
            yield app, http
    finally:
        await database.dispose()


def assert_unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    error = response.json()["error"]
    assert error["code"] == "database_unavailable"
    assert set(error) == {"code", "message", "details"}
    assert response.headers["retry-after"]
    assert not [w for w in DRIVER_WORDS if w.lower() in response.text.lower()]


class TestDatabaseDown:
    async def test_the_api_answers_503_with_the_error_shape(
        self, db_url: str, settings: Settings, tmp_path: Path, org: OrgHandle
    ) -> None:
        async with app_on(unreachable_url(db_url, tmp_path), settings) as (_, http):
            assert_unavailable(await http.get("/api/v1/contacts", headers=org.auth))
            assert_unavailable(await http.post("/api/v1/contacts", json={"phone": "+14155550100"}, headers=org.auth))

    async def test_a_database_that_does_not_exist_is_503_too(self, settings: Settings, org: OrgHandle) -> None:
        if settings.is_sqlite:
            pytest.skip("SQLite creates a missing file")
        async with app_on(missing_database_url(settings.database_url), settings) as (_, http):
            assert_unavailable(await http.get("/api/v1/contacts", headers=org.auth))

    async def test_a_webhook_post_is_503_so_that_meta_retries(
        self, db_url: str, settings: Settings, tmp_path: Path
    ) -> None:
        async with app_on(unreachable_url(db_url, tmp_path), settings) as (_, http):
            raw = status_body([status("wamid.x", "delivered", 1767225600)])  # names a number: looked up
            response = await http.post("/webhooks/whatsapp", content=raw,
                                       headers={"content-type": "application/json", "x-hub-signature-256": "sha256=0"})
        assert_unavailable(response)

    async def test_a_ui_page_is_a_friendly_503_page(self, db_url: str, settings: Settings, tmp_path: Path) -> None:
        async with app_on(unreachable_url(db_url, tmp_path), settings) as (_, http):
            http.cookies.set("herald_session", "x" * 40)
            response = await http.get("/ui/campaigns")
        assert response.status_code == 503
        assert response.headers["content-type"].startswith("text/html")
        assert "Temporarily unavailable" in response.text and "try again in a moment" in response.text
        assert not [w for w in DRIVER_WORDS if w.lower() in response.text.lower()]


class TestDatabaseReadOnly:
    async def test_a_write_is_503_with_the_error_shape(self, db_url: str, settings: Settings, org: OrgHandle) -> None:
        async with app_on(read_only_url(db_url), settings) as (_, http):
            created = await http.post("/api/v1/contacts", json={"phone": "+14155550100"}, headers=org.auth)
        assert_unavailable(created)


class TestOtherDatabaseErrorsStay500:
    async def test_a_bug_in_sql_is_a_500_not_a_503(self, app: FastAPI) -> None:
        async def broken(session: SessionDep) -> None:
            await session.execute(text("SELECT no_such_column FROM no_such_table"))

        app.add_api_route("/broken-for-test", broken)
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://herald.test") as http:
            response = await http.get("/broken-for-test")
        assert response.status_code == 500
        assert response.json()["error"]["code"] == "internal_error"

    async def test_only_availability_errors_are_classified_as_unavailable(
        self, db_url: str, database: Database, tmp_path: Path
    ) -> None:
        async def error_of(db: Database, sql: str) -> DBAPIError:
            with pytest.raises(DBAPIError) as raised:
                async with db.session() as session:
                    await session.execute(text(sql))
            return raised.value

        assert unavailability(await error_of(database, "SELECT no_such_column FROM no_such_table")) is None
        down = Database.connect(unreachable_url(db_url, tmp_path))
        read_only = Database.connect(read_only_url(db_url))
        try:
            assert unavailability(await error_of(down, "SELECT 1")) is Unavailability.unreachable
            assert unavailability(await error_of(read_only, "DELETE FROM organizations")) is Unavailability.read_only
        finally:
            await down.dispose()
            await read_only.dispose()
        if db_url.startswith("sqlite"):  # the driver's own error, wrapped as SQLAlchemy wraps it
            with pytest.raises(sqlite3.OperationalError) as cannot_open:
                sqlite3.connect(tmp_path / "no-such-directory" / "herald.db")
            wrapped = OperationalError("connect", None, cannot_open.value)
            assert unavailability(wrapped) is Unavailability.unreachable
