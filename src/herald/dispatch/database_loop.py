"""A worker's database work (claiming batches, recording them, applying webhooks) on an event loop of
its own, in its own thread.

Claiming or recording a batch of 500 messages is tens of milliseconds of Python (statements built,
rows read, templates rendered). Run on the send loops' event loop, it held every send for that long,
several times a second; the sends due meanwhile then left together when it ended, and at a
number's top tier such a clump put Meta's sliding second over the number's throughput (130429).
On a second loop the two share the interpreter lock instead, which the runtime hands over every
``SWITCH_INTERVAL`` (1 ms; the interpreter's default is 5): a send waits about that long at most
for the database work. On SQLite, whose driver already runs a thread per connection, the handovers
cost the dispatch ceiling a fifth of its rate: ``herald worker`` uses the database loop on
PostgreSQL only (``HERALD_WORKER_BATCH_THREAD`` overrides).

The second loop has engines of its own (a connection belongs to the loop it was opened on). On
SQLite its writers queue on the database's busy handler against the process's other writers,
rather than on the in-process write lock; ``herald serve``'s embedded worker (SQLite, where the
API's writers must keep their priority) therefore keeps its database work on its own loop.
"""

from __future__ import annotations

import asyncio
import sys
import threading
from collections.abc import Awaitable, Callable, Coroutine
from concurrent.futures import Future, InvalidStateError
from typing import Any, TypeVar

from herald.kit.db import Database

T = TypeVar("T")

SWITCH_INTERVAL = 0.001
# Of the database loop's connections (its pool and as many again of overflow), how many the batches
# may hold at once; the rest stay for the work sends wait on (``DatabaseWork.now``).
BATCHES_AT_ONCE = 5


class DatabaseWork:
    """Runs ``fn(database, *args)`` inline, on the caller's loop and database (the default).

    ``__call__`` is for the batches (claims, recordings), ``now`` for what sends wait on (the takeoff's
    flush, the roster's read) or what runs for the worker's life (the webhook applier): on the database
    loop, batches take at most ``BATCHES_AT_ONCE`` of its connections, so that with a hundred numbers
    claiming at once a flush still finds a connection at once instead of queueing behind them."""

    def __init__(self, database: Database) -> None:
        self.database = database

    async def __call__(self, fn: Callable[..., Awaitable[T]], *args: Any) -> T:
        return await fn(self.database, *args)

    async def now(self, fn: Callable[..., Awaitable[T]], *args: Any) -> T:
        return await fn(self.database, *args)

    async def close(self) -> None:
        pass


class DatabaseLoop(DatabaseWork):
    """Runs ``fn(database, *args)`` on a thread's own event loop, with that loop's own engines."""

    def __init__(self, url: str, *, pool_size: int = 5) -> None:
        self.url = url
        self._pool_size = pool_size
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._batches: asyncio.Semaphore | None = None

    def _batch(self, work: Awaitable[T]) -> Coroutine[Any, Any, T]:
        assert self._batches is not None
        return _limited(self._batches, work)

    def start(self) -> None:
        started: Future[None] = Future()
        loop = _new_loop()

        def run() -> None:
            asyncio.set_event_loop(loop)
            try:
                self.database = Database.connect(self.url, pool_size=self._pool_size)
                # Created on the database loop, which is the only one to use it.
                self._batches = asyncio.Semaphore(min(BATCHES_AT_ONCE, self._pool_size))
            except BaseException as error:  # reported to start()'s caller
                started.set_exception(error)
                return
            started.set_result(None)
            loop.run_forever()

        self._thread = threading.Thread(target=run, name="herald-database-loop", daemon=True)
        self._thread.start()
        started.result()
        self._loop = loop
        if sys.getswitchinterval() > SWITCH_INTERVAL:
            sys.setswitchinterval(SWITCH_INTERVAL)

    async def __call__(self, fn: Callable[..., Awaitable[T]], *args: Any) -> T:
        return await self._run(fn, args, queued=True)

    async def now(self, fn: Callable[..., Awaitable[T]], *args: Any) -> T:
        return await self._run(fn, args, queued=False)

    async def _run(self, fn: Callable[..., Awaitable[T]], args: tuple[Any, ...], *, queued: bool) -> T:
        loop = self._loop
        assert loop is not None, "DatabaseLoop.start() first"
        done: Future[T] = Future()

        def begin() -> None:  # runs in a copy of the caller's context: its log fields go along
            work = fn(self.database, *args)
            task: asyncio.Task[T] = loop.create_task(self._batch(work) if queued else _awaited(work))
            task.add_done_callback(lambda t: _settle(t, done))
            done.add_done_callback(lambda f: f.cancelled() and loop.call_soon_threadsafe(task.cancel))

        loop.call_soon_threadsafe(begin)
        return await asyncio.wrap_future(done)

    async def close(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        await self(lambda database: database.dispose())
        loop.call_soon_threadsafe(loop.stop)
        await asyncio.to_thread(thread.join)
        loop.close()
        self._loop = self._thread = None


async def _awaited(awaitable: Awaitable[T]) -> T:
    return await awaitable


async def _limited(limit: asyncio.Semaphore, awaitable: Awaitable[T]) -> T:
    async with limit:
        return await awaitable


def _settle(task: asyncio.Task[T], done: Future[T]) -> None:
    try:
        if task.cancelled():
            done.cancel()
        elif (error := task.exception()) is not None:
            done.set_exception(error)
        else:
            done.set_result(task.result())
    except InvalidStateError:  # the caller gave up (cancelled) meanwhile
        pass


def _new_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop
    except ImportError:  # optional, as for the worker's own loop
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()
