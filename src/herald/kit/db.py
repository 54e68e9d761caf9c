"""Engines and sessions for SQLite (embedded default) and PostgreSQL behind one URL.

SQLite gets WAL, a busy timeout, foreign keys and ``BEGIN IMMEDIATE`` for every write
transaction, so two writers queue on the lock instead of failing halfway with SQLITE_BUSY.
Read-only work (stats, exports, SSE) goes through a second engine that begins DEFERRED.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

SQLITE_BUSY_TIMEOUT_MS = 30_000


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # Let us emit BEGIN ourselves: pysqlite's implicit transactions would start DEFERRED.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def make_engine(url: str, *, read_only: bool = False, pool_size: int = 10) -> AsyncEngine:
    if url.startswith("sqlite"):
        engine = create_async_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        begin = "BEGIN" if read_only else "BEGIN IMMEDIATE"
        event.listen(engine.sync_engine, "begin", lambda conn: conn.exec_driver_sql(begin))
        return engine
    return create_async_engine(
        url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True, pool_recycle=1800
    )


@dataclass
class Database:
    """The process's engines and session factories."""

    url: str
    engine: AsyncEngine
    read_engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    read_sessionmaker: async_sessionmaker[AsyncSession]
    _write_lock: asyncio.Lock | None = None

    @classmethod
    def connect(cls, url: str, *, pool_size: int = 10) -> Database:
        engine = make_engine(url, pool_size=pool_size)
        read_engine = make_engine(url, read_only=True, pool_size=pool_size) if url.startswith("sqlite") else engine
        return cls(
            url=url,
            engine=engine,
            read_engine=read_engine,
            sessionmaker=async_sessionmaker(engine, expire_on_commit=False),
            read_sessionmaker=async_sessionmaker(read_engine, expire_on_commit=False),
        )

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A unit of work: commits when the block ends, rolls back on error.

        On SQLite it holds the process's write lock for its whole life: never open another
        ``session()`` inside one (that would wait for itself).
        """
        async with self.write_lock, self.unlocked_session() as session:
            yield session

    @asynccontextmanager
    async def unlocked_session(self) -> AsyncIterator[AsyncSession]:
        """A unit of work that does not take the in-process write lock (an HTTP request's session,
        inside which a handler may still open ``session()`` for batches of its own)."""
        async with self.sessionmaker() as session:
            try:
                yield session
                await session.commit()
            except BaseException:
                await session.rollback()
                raise

    @property
    def write_lock(self) -> asyncio.Lock | contextlib.nullcontext[None]:
        """On SQLite, writers of this process queue here (FIFO) rather than on the database lock,
        whose busy handler polls with sleeps of up to 100 ms and makes the latency tail long.
        Hold it only around one transaction that opens no other one."""
        if not self.url.startswith("sqlite"):
            return contextlib.nullcontext()
        if self._write_lock is None:
            self._write_lock = asyncio.Lock()
        return self._write_lock

    transaction = session

    @asynccontextmanager
    async def read_session(self) -> AsyncIterator[AsyncSession]:
        async with self.read_sessionmaker() as session:
            yield session

    async def dispose(self) -> None:
        await self.engine.dispose()
        if self.read_engine is not self.engine:
            await self.read_engine.dispose()
