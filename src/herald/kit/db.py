"""Engines and sessions for SQLite (embedded default) and PostgreSQL behind one URL.

SQLite gets WAL, a busy timeout, foreign keys and ``BEGIN IMMEDIATE`` for every write
transaction, so two writers queue on the lock instead of failing halfway with SQLITE_BUSY.
Read-only work (stats, exports, SSE) goes through a second engine that begins DEFERRED.
SQLite's memory statistics are turned off when this module is imported (see
``_sqlite_memory_statistics_off``): they made threads of one process queue on one mutex.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import importlib.util
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

SQLITE_BUSY_TIMEOUT_MS = 30_000
# A key of a session's ``info``: the campaigns whose status the transaction changed, by id, with the
# new status (``campaigns/lifecycle.transition``). Once an HTTP request's transaction with it has
# committed, the request tells the worker running in its process (``kit/deps.get_session``).
CAMPAIGN_STATUS_CHANGED = "herald.campaign_status_changed"
PG_CONNECT_TIMEOUT_SECONDS = 10
_SQLITE_CONFIG_MEMSTATUS = 9
_SQLITE_STATUS_MEMORY_USED = 0


def _sqlite_memory_statistics_off() -> bool:
    """Turns off SQLite's count of the memory it uses, in this process, if no connection is open yet.

    Debian's libsqlite3 is built without lookaside memory, so every allocation of every statement
    goes through ``sqlite3_malloc``, which with the statistics on (the default) takes one mutex of
    the whole process. Two readers in two threads (the report export formats pages so) then spend
    most of their time contending on it: each ran at less than half its single-thread speed while
    burning both cores; two processes did not slow each other at all. Nothing in Herald reads the
    statistics. The setting can only change while the library is shut down, which is safe only with
    no connection open: hence the check that no memory is in use, and the call at import.
    """
    try:
        spec = importlib.util.find_spec("_sqlite3")
        library = ctypes.CDLL(spec.origin if spec and spec.origin else None)
        config, status = library.sqlite3_config, library.sqlite3_status64
    except (OSError, AttributeError):  # SQLite linked in statically, its symbols not exported
        return False
    off = ctypes.c_int(0)
    if config(_SQLITE_CONFIG_MEMSTATUS, off) == 0:  # not yet initialised
        return True
    used, highest = ctypes.c_int64(), ctypes.c_int64()
    status(_SQLITE_STATUS_MEMORY_USED, ctypes.byref(used), ctypes.byref(highest), 0)
    # Statistics already off (nothing ever counted), or memory in use: a connection may be open.
    if used.value or not highest.value:
        return False
    library.sqlite3_shutdown()
    done = config(_SQLITE_CONFIG_MEMSTATUS, off) == 0
    library.sqlite3_initialize()
    return bool(done)


SQLITE_MEMORY_STATISTICS_OFF = _sqlite_memory_statistics_off()


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
        url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True, pool_recycle=1800,
        # A server that does not answer (host down, packets dropped) fails a connection in seconds,
        # not after the system's TCP timeout (minutes): requests get their 503 (app.database_error).
        # (A connect_timeout in the URL wins.)
        connect_args={} if "connect_timeout" in make_url(url).query else {"connect_timeout": PG_CONNECT_TIMEOUT_SECONDS},
    )


class WriteLock:
    """The in-process SQLite write lock: FIFO within three turns. ``first``: sends wait on it this
    instant (the takeoff's flush, one short statement; ``dispatch/takeoff.py``). ``urgent``: a client
    or a number waits on it (storing a webhook before answering it, a claim). Background writers (the
    applier, the recordings) go last, and lose only milliseconds to the others."""

    def __init__(self) -> None:
        self._held = False
        self._first: deque[asyncio.Future[None]] = deque()
        self._urgent: deque[asyncio.Future[None]] = deque()
        self._background: deque[asyncio.Future[None]] = deque()

    def locked(self) -> bool:
        return self._held

    async def acquire(self, *, urgent: bool = False, first: bool = False) -> None:
        if not self._held and not self._first and not self._urgent and not self._background:
            self._held = True
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        (self._first if first else self._urgent if urgent else self._background).append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.release()  # handed over just as we were cancelled: pass it on
            raise

    def release(self) -> None:
        # Handed over directly, so no writer that arrives meanwhile can slip in between.
        for queue in (self._first, self._urgent, self._background):
            while queue:
                waiter = queue.popleft()
                if not waiter.done():
                    waiter.set_result(None)
                    return
        self._held = False

    async def __aenter__(self) -> None:
        await self.acquire()

    async def __aexit__(self, *_: object) -> None:
        self.release()

    @asynccontextmanager
    async def urgently(self, *, first: bool = False) -> AsyncIterator[None]:
        await self.acquire(urgent=True, first=first)
        try:
            yield
        finally:
            self.release()


@dataclass
class Database:
    """The process's engines and session factories."""

    url: str
    engine: AsyncEngine
    read_engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    read_sessionmaker: async_sessionmaker[AsyncSession]
    _write_lock: WriteLock | None = None

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
    async def session(self, *, urgent: bool = False, first: bool = False) -> AsyncIterator[AsyncSession]:
        """A unit of work: commits when the block ends, rolls back on error.

        On SQLite it holds the process's write lock for its whole life: never open another
        ``session()`` inside one (that would wait for itself). ``urgent``: a client is waiting on
        this transaction, so it takes the lock before background writers already waiting. ``first``:
        sends are waiting on this one short transaction, so it goes before every waiting writer.
        """
        lock = self.write_lock
        held = lock.urgently(first=first) if (urgent or first) and isinstance(lock, WriteLock) else lock
        async with held, self.unlocked_session() as session:
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
    def write_lock(self) -> WriteLock | contextlib.nullcontext[None]:
        """On SQLite, writers of this process queue here (FIFO) rather than on the database lock,
        whose busy handler polls with sleeps of up to 100 ms and makes the latency tail long.
        Hold it only around one transaction that opens no other one."""
        if not self.url.startswith("sqlite"):
            return contextlib.nullcontext()
        if self._write_lock is None:
            self._write_lock = WriteLock()
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
