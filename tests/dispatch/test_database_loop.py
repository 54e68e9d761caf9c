"""A worker's batch work on a loop of its own thread (`herald worker` on PostgreSQL)."""

from __future__ import annotations

import asyncio
import contextvars
import threading

import pytest
from sqlalchemy import select, text

from herald.dispatch.database_loop import DatabaseLoop, DatabaseWork
from herald.kit.db import Database
from herald.models import Contact
from tests.factories import make_contacts

REQUEST = contextvars.ContextVar("request", default="unset")


@pytest.fixture
async def database_loop(db_url: str):  # type: ignore[no-untyped-def]
    loop = DatabaseLoop(db_url)
    loop.start()
    yield loop
    await loop.close()


async def _names(database: Database) -> tuple[list[str], int, int, str]:
    async with database.read_session() as session:
        names = list((await session.execute(select(Contact.name).order_by(Contact.name))).scalars())
    return names, threading.get_ident(), id(database), REQUEST.get()


class TestDatabaseLoop:
    async def test_work_runs_on_another_thread_with_its_own_engines_over_the_same_data(
        self, database: Database, org, database_loop: DatabaseLoop  # type: ignore[no-untyped-def]
    ) -> None:
        await make_contacts(database, org_id=org.id, specs=[{"phone": "+14155550101", "name": "Maria"},
                                                             {"phone": "+14155550102", "name": "Ana"}])
        REQUEST.set("campaign 7")
        names, thread, engines, request = await database_loop(_names)
        assert names == ["Ana", "Maria"]
        assert thread != threading.get_ident()
        assert engines != id(database)
        assert request == "campaign 7"  # the caller's context (log fields) goes along

        inline = await DatabaseWork(database)(_names)
        assert inline == (["Ana", "Maria"], threading.get_ident(), id(database), "campaign 7")

    async def test_an_error_reaches_the_caller_and_the_loop_keeps_working(
        self, database_loop: DatabaseLoop
    ) -> None:
        async def broken(database: Database) -> None:
            async with database.read_session() as session:
                await session.execute(text("SELECT * FROM no_such_table"))

        with pytest.raises(Exception, match="no_such_table"):
            await database_loop(broken)
        assert (await database_loop(_names))[0] == []

    async def test_a_caller_that_gives_up_cancels_the_work(self, database_loop: DatabaseLoop) -> None:
        started, cancelled = threading.Event(), threading.Event()

        async def slow(database: Database) -> None:
            started.set()
            try:
                await asyncio.sleep(30)
            except asyncio.CancelledError:
                cancelled.set()
                raise

        call = asyncio.create_task(database_loop(slow))
        assert await asyncio.to_thread(started.wait, 5)
        call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await call
        assert await asyncio.to_thread(cancelled.wait, 5)

    async def test_close_ends_the_thread(self, db_url: str) -> None:
        loop = DatabaseLoop(db_url)
        loop.start()
        threads = {t.name for t in threading.enumerate()}
        assert "herald-database-loop" in threads
        await loop.close()
        assert "herald-database-loop" not in {t.name for t in threading.enumerate()}


class TestWhereWorkersUseIt:
    def test_herald_worker_uses_the_batch_loop_on_postgresql_only_unless_told(
        self, tmp_path, monkeypatch  # type: ignore[no-untyped-def]
    ) -> None:
        from herald.config import Settings

        def resolved(url: str) -> bool | None:
            return Settings(var_dir=tmp_path, database_url=url, secret_key="k" * 32,
                            encryption_keys="x").resolved().worker_batch_thread

        assert resolved("postgresql+psycopg://herald@db/herald") is True
        assert resolved(f"sqlite+aiosqlite:///{tmp_path / 'h.db'}") is False
        monkeypatch.setenv("HERALD_WORKER_BATCH_THREAD", "true")
        assert resolved(f"sqlite+aiosqlite:///{tmp_path / 'h.db'}") is True
