"""The in-process SQLite write lock: the takeoff's flush and a webhook being answered do not queue behind other writers."""

from __future__ import annotations

import asyncio

from herald.kit.db import WriteLock


async def _writer(
    lock: WriteLock, name: str, order: list[str], *, urgent: bool = False, first: bool = False
) -> None:
    await lock.acquire(urgent=urgent, first=first)
    order.append(name)
    await asyncio.sleep(0)
    lock.release()


class TestWriteLock:
    async def test_a_waiting_webhook_store_goes_before_waiting_background_writers(self) -> None:
        lock, order = WriteLock(), list[str]()
        await lock.acquire()
        tasks = [asyncio.create_task(_writer(lock, "applier", order)), asyncio.create_task(_writer(lock, "sender", order))]
        await asyncio.sleep(0)
        tasks.append(asyncio.create_task(_writer(lock, "webhook", order, urgent=True)))
        await asyncio.sleep(0)
        lock.release()
        await asyncio.gather(*tasks)
        assert order == ["webhook", "applier", "sender"]
        assert not lock.locked()

    async def test_the_takeoffs_flush_goes_before_waiting_claims_and_webhooks(self) -> None:
        # Sends wait on the flush this instant: a hundred numbers' claims queued before it must not delay it.
        lock, order = WriteLock(), list[str]()
        await lock.acquire()
        tasks = [asyncio.create_task(_writer(lock, "recording", order)),
                 asyncio.create_task(_writer(lock, "claim", order, urgent=True)),
                 asyncio.create_task(_writer(lock, "webhook", order, urgent=True))]
        await asyncio.sleep(0)
        tasks.append(asyncio.create_task(_writer(lock, "flush", order, first=True)))
        await asyncio.sleep(0)
        lock.release()
        await asyncio.gather(*tasks)
        assert order == ["flush", "claim", "webhook", "recording"]
        assert not lock.locked()

    async def test_writers_of_the_same_kind_keep_their_arrival_order(self) -> None:
        lock, order = WriteLock(), list[str]()
        await lock.acquire()
        tasks = []
        for name in ("a", "b", "c"):
            tasks.append(asyncio.create_task(_writer(lock, name, order, urgent=True)))
            await asyncio.sleep(0)
        lock.release()
        await asyncio.gather(*tasks)
        assert order == ["a", "b", "c"]

    async def test_a_writer_cancelled_while_waiting_does_not_keep_the_lock(self) -> None:
        lock, order = WriteLock(), list[str]()
        await lock.acquire()
        cancelled = asyncio.create_task(_writer(lock, "cancelled", order))
        waiting = asyncio.create_task(_writer(lock, "next", order))
        await asyncio.sleep(0)
        lock.release()  # handed to the first waiter, which is cancelled before it runs
        cancelled.cancel()
        await asyncio.gather(cancelled, waiting, return_exceptions=True)
        assert order == ["next"]
        assert not lock.locked()

    async def test_without_contention_it_is_taken_at_once(self) -> None:
        lock = WriteLock()
        async with lock:
            assert lock.locked()
        async with lock.urgently():
            assert lock.locked()
        assert not lock.locked()
