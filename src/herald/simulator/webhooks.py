"""Outgoing webhooks: scheduled updates, batched into signed POSTs, retried until the receiver takes them."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import heapq
import hmac
import itertools
import logging
import secrets
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import aiohttp
import orjson

from herald.simulator.scenario import digits

if TYPE_CHECKING:
    from herald.simulator.state import SimState

log = logging.getLogger("herald.simulator.webhooks")


@dataclass(slots=True)
class Update:
    """One item of a webhook: a status, an inbound message, a preference or a template event."""

    phone_number_id: str
    field: str  # changes[].field
    kind: str  # the list inside value ("statuses", "messages", "user_preferences"); "" = value is item
    item: dict[str, Any]
    contact: dict[str, Any] | None = None
    stamp: bool = False  # set item["timestamp"] (string seconds) when emitted
    duplicate: bool = False
    on_emit: Callable[[float], None] | None = None


@dataclass(slots=True)
class Batch:
    body: bytes
    signature: str
    count: int


@dataclass
class WebhookStats:
    posts_ok: int = 0
    posts_failed: int = 0
    updates_delivered: int = 0
    duplicates_emitted: int = 0
    last_error: str | None = None


@dataclass
class WebhookDispatcher:
    state: SimState
    stats: WebhookStats = field(default_factory=WebhookStats)
    _heap: list[tuple[float, int, Update]] = field(default_factory=list)
    _ready: deque[Update] = field(default_factory=deque)
    _in_flight: int = 0
    _seq: itertools.count[int] = field(default_factory=itertools.count)
    _queue: asyncio.Queue[Batch] | None = None
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    _session: aiohttp.ClientSession | None = None
    _wake: asyncio.Event | None = None

    def schedule(self, delay_s: float, update: Update) -> None:
        due = asyncio.get_running_loop().time() + max(0.0, delay_s)
        heapq.heappush(self._heap, (due, next(self._seq), update))

    @property
    def scheduled(self) -> int:
        return len(self._heap)

    @property
    def pending(self) -> int:
        """Updates due but not yet accepted by the receiver (queued, in a batch, or being retried)."""
        queued = self._queue.qsize() if self._queue else 0
        return len(self._ready) + self._in_flight + queued

    def clear(self) -> None:
        self._heap.clear()
        self._ready.clear()
        while self._queue is not None and not self._queue.empty():
            self._queue.get_nowait()
        self.stats = WebhookStats()

    async def start(self) -> None:
        self._queue = asyncio.Queue()
        self._wake = asyncio.Event()
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=10), connector=aiohttp.TCPConnector(limit=64)
        )
        self._tasks.append(asyncio.create_task(self._pump(), name="sim-webhook-pump"))
        for index in range(self.state.scenario.webhook_concurrency):
            self._tasks.append(asyncio.create_task(self._sender(), name=f"sim-webhook-sender-{index}"))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        if self._session is not None:
            await self._session.close()

    def wake(self) -> None:
        if self._wake is not None:
            self._wake.set()

    async def _pump(self) -> None:
        assert self._wake is not None
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.state.scenario.webhook_flush_ms / 1000)
            self._wake.clear()
            try:
                self._release_due()
                self._form_batches()
            except Exception:  # a bad update must not stop all webhooks
                log.exception("webhook pump failed")

    def _release_due(self) -> None:
        now_loop = asyncio.get_running_loop().time()
        now = self.state.now()
        heap = self._heap
        while heap and heap[0][0] <= now_loop:
            update = heapq.heappop(heap)[2]
            if update.stamp:
                update.item["timestamp"] = str(int(now))
            if update.on_emit is not None:
                update.on_emit(now)
            self._ready.append(update)
            if update.duplicate:
                # Meta's duplicates are identical copies that arrive later, often in another POST.
                copy = Update(update.phone_number_id, update.field, update.kind, update.item, update.contact)
                self.schedule(self.state.scenario.webhook_flush_ms / 1000 * 2, copy)
                self.stats.duplicates_emitted += 1

    def _form_batches(self) -> None:
        assert self._queue is not None
        if not self.state.webhook_url:
            return
        size = self.state.scenario.webhook_batch_size
        # Back-pressure: while the receiver lags, keep updates in `_ready` rather than in batches.
        while self._ready and self._queue.qsize() < self.state.scenario.webhook_concurrency * 2:
            chunk = [self._ready.popleft() for _ in range(min(size, len(self._ready)))]
            for secret, updates in self._by_secret(chunk).items():
                body = orjson.dumps(build_envelope(self.state, updates))
                signature = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
                self._queue.put_nowait(Batch(body, signature, len(updates)))

    def _by_secret(self, updates: list[Update]) -> dict[str, list[Update]]:
        groups: dict[str, list[Update]] = {}
        for update in updates:
            groups.setdefault(self.state.secret_for(update.phone_number_id), []).append(update)
        return groups

    async def _sender(self) -> None:
        assert self._queue is not None
        while True:
            batch = await self._queue.get()
            self._in_flight += batch.count
            try:
                await self._deliver(batch)
            finally:
                self._in_flight -= batch.count

    async def _deliver(self, batch: Batch) -> None:
        """POST until a 200; the batch is never dropped and its contents never reordered."""
        scenario = self.state.scenario
        delay = scenario.webhook_retry_base_ms / 1000
        while True:
            url = self.state.webhook_url
            if url and await self._post(url, batch):
                self.stats.posts_ok += 1
                self.stats.updates_delivered += batch.count
                return
            await asyncio.sleep(delay * (0.5 + secrets.randbelow(1000) / 1000))
            delay = min(delay * 2, scenario.webhook_retry_cap_ms / 1000)

    async def _post(self, url: str, batch: Batch) -> bool:
        assert self._session is not None
        headers = {"Content-Type": "application/json", "X-Hub-Signature-256": batch.signature,
                   "User-Agent": "facebookexternalua"}
        try:
            async with self._session.post(url, data=batch.body, headers=headers) as response:
                await response.read()
                if response.status == 200:
                    return True
                self.stats.last_error = f"HTTP {response.status}"
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            self.stats.last_error = f"{type(exc).__name__}: {exc}"
        self.stats.posts_failed += 1
        return False

    async def verify(self, verify_token: str) -> dict[str, Any]:
        """Meta's subscription handshake against the current webhook URL."""
        assert self._session is not None
        url = self.state.webhook_url
        if not url:
            return {"ok": False, "reason": "no webhook url"}
        challenge = secrets.token_hex(8)
        params = {"hub.mode": "subscribe", "hub.challenge": challenge, "hub.verify_token": verify_token}
        try:
            async with self._session.get(url, params=params) as response:
                text = await response.text()
                ok = response.status == 200 and text == challenge
                return {"ok": ok, "status": response.status, "body": text[:200]}
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            return {"ok": False, "reason": str(exc)}


def build_envelope(state: SimState, updates: list[Update]) -> dict[str, Any]:
    """Group updates per WABA (entry) and per number/field/kind (change), keeping their order."""
    entries: dict[str, dict[tuple[str, str, str], list[Update]]] = {}
    for index, update in enumerate(updates):
        number = state.scenario.number(update.phone_number_id)
        waba_id = number.waba_id if number else "0"
        key = (update.phone_number_id, update.field, update.kind or str(index))
        entries.setdefault(waba_id, {}).setdefault(key, []).append(update)
    return {
        "object": "whatsapp_business_account",
        "entry": [_entry(state, waba_id, groups) for waba_id, groups in entries.items()],
    }


def _entry(state: SimState, waba_id: str, groups: dict[tuple[str, str, str], list[Update]]) -> dict[str, Any]:
    entry: dict[str, Any] = {"id": waba_id, "changes": [_change(state, group) for group in groups.values()]}
    if any(not group[0].kind for group in groups.values()):
        entry["time"] = int(state.now())  # account-level fields (templates, number quality) carry entry.time
    return entry


def _change(state: SimState, group: list[Update]) -> dict[str, Any]:
    first = group[0]
    if not first.kind:
        return {"field": first.field, "value": first.item}
    number = state.scenario.number(first.phone_number_id)
    display = digits(number.display_phone_number) if number else ""
    value: dict[str, Any] = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": display, "phone_number_id": first.phone_number_id},
    }
    contacts: list[dict[str, Any]] = []
    for update in group:
        if update.contact is not None and update.contact not in contacts:
            contacts.append(update.contact)
    if contacts:
        value["contacts"] = contacts
    value[first.kind] = [update.item for update in group]
    return {"field": first.field, "value": value}
