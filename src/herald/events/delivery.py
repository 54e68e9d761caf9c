"""Delivering events: signed batches POSTed to each endpoint, retried with per-endpoint back-off for 24 h.

A loop of the worker, independent of the senders and of the webhook intake: those only append
rows to the outbox (``outbox.py``), and a slow or failing endpoint only delays its own events.
Each round settles the POSTs that finished and claims the endpoints that became due in one
transaction, then POSTs their batches concurrently (CONCURRENCY endpoints at most). Events
recorded between two rounds (POLL_SECONDS) go in one POST, BATCH_MAX_EVENTS at most: the outbox
rows they were appended in (one per recording round and endpoint), whole, oldest first.

Delivery is at least once: a worker dying after a POST but before recording it sends the batch
again after the endpoint's lease, so receivers dedupe on each event's ``id``. Every POST goes
through the outbound URL policy, redirects are not followed, and a failure is kept as the HTTP
code and a short reason in Herald's words, never what the endpoint answered.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import aiohttp
from sqlalchemy.ext.asyncio import AsyncSession

from herald.events import claim
from herald.events.claim import ClaimedBatch
from herald.kit.crypto import SecretBox
from herald.kit.db import Database
from herald.kit.outbound import OutboundPolicy, OutboundRefused, client_session, refusal_of
from herald.kit.stopping import event_or_stop
from herald.kit.types import utcnow

log = logging.getLogger("herald.events")

Clock = Callable[[], datetime]

FIRST_BACKOFF = timedelta(seconds=1)
MAX_BACKOFF = timedelta(minutes=10)
GIVE_UP_AFTER = timedelta(hours=24)
HTTP_TIMEOUT = aiohttp.ClientTimeout(total=10, connect=5)
CONCURRENCY = 16
POLL_SECONDS = 0.25
PRUNE_EVERY = timedelta(minutes=10)
STOP_GRACE_SECONDS = 3.0
SIGNATURE_HEADER = "X-Herald-Signature"
TIMESTAMP_HEADER = "X-Herald-Timestamp"
DELIVERY_HEADER = "X-Herald-Delivery"


def backoff(failures: int) -> timedelta:
    """1 s, 2 s, 4 s … after the 1st, 2nd, 3rd consecutive failed POST to an endpoint, capped at 10 minutes."""
    return min(FIRST_BACKOFF * 2 ** min(max(failures - 1, 0), 20), MAX_BACKOFF)


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """``sha256=`` and the hex HMAC-SHA256, keyed with the endpoint's secret, of ``<timestamp>.<body>``:
    the timestamp is signed too, so a receiver that refuses old timestamps refuses replays."""
    signed = timestamp.encode() + b"." + body
    return "sha256=" + hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def batch_body(payloads: Sequence[str]) -> bytes:
    """The POST's body: the events' JSON (stored as sent, each row's envelopes comma-separated) in
    one array, oldest first; nothing is parsed again."""
    return ("[" + ",".join(payloads) + "]").encode()


@dataclass(frozen=True, slots=True)
class Outcome:
    batch: ClaimedBatch
    error: str | None  # None: the endpoint answered 2xx
    status_code: int | None


class EventDeliverer:
    """Delivers due events until stopped; ``now`` is injectable so tests can jump through the back-off."""

    def __init__(
        self, *, database: Database, box: SecretBox, outbound: OutboundPolicy, now: Clock = utcnow,
        concurrency: int = CONCURRENCY, timeout: aiohttp.ClientTimeout = HTTP_TIMEOUT,
    ) -> None:
        self.database = database
        self.box = box
        self.outbound = outbound
        self.now = now
        self.concurrency = concurrency
        self.timeout = timeout
        self._outcomes: list[Outcome] = []
        self._in_flight: dict[asyncio.Task[None], ClaimedBatch] = {}
        self._finished = asyncio.Event()
        self._pruned_at: datetime | None = None

    async def run(self, stop: asyncio.Event) -> None:
        async with self._http() as http:
            while not stop.is_set():
                self._finished.clear()
                self._start(http, await self._settle_and_claim(self.concurrency - len(self._in_flight)))
                await self._prune_now_and_then()
                await event_or_stop(stop, self._finished, POLL_SECONDS)
            if self._in_flight:
                await asyncio.wait(set(self._in_flight), timeout=STOP_GRACE_SECONDS)
            cut = [task for task in self._in_flight if not task.done()]
            released = [self._in_flight[task] for task in cut]
            for task in cut:
                task.cancel()
            await asyncio.gather(*cut, return_exceptions=True)
            await self._settle_and_claim(0, released=released)

    async def deliver_due(self) -> int:
        """One round to completion: claims the due endpoints, POSTs, records. Returns the batches POSTed."""
        async with self._http() as http:
            claimed = await self._settle_and_claim(self.concurrency)
            self._start(http, claimed)
            await asyncio.gather(*self._in_flight, return_exceptions=True)
            await self._settle_and_claim(0)
            return len(claimed)

    def _http(self) -> aiohttp.ClientSession:
        return client_session(self.outbound, timeout=self.timeout, limit=self.concurrency,
                              headers={"User-Agent": "Herald"})

    def _start(self, http: aiohttp.ClientSession, batches: list[ClaimedBatch]) -> None:
        for batch in batches:
            task = asyncio.create_task(self._deliver(http, batch), name=f"events-endpoint-{batch.endpoint_id}")
            self._in_flight[task] = batch
            task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled():
            self._in_flight.pop(task, None)
        self._finished.set()

    async def _deliver(self, http: aiohttp.ClientSession, batch: ClaimedBatch) -> None:
        try:
            outcome = await self._post(http, batch)
        except Exception:  # any failure is a failed attempt, retried later
            log.exception("events to endpoint %s failed unexpectedly", batch.endpoint_id)
            outcome = Outcome(batch, "could not deliver: internal error (see the worker's log)", None)
        self._outcomes.append(outcome)

    async def _post(self, http: aiohttp.ClientSession, batch: ClaimedBatch) -> Outcome:
        try:
            secret = self.box.decrypt(batch.secret_enc)
        except ValueError:
            return Outcome(batch, "the endpoint's secret cannot be decrypted with the configured keys", None)
        body = batch_body(batch.payloads)
        timestamp = str(int(self.now().timestamp()))
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: signature(secret, timestamp, body),
            TIMESTAMP_HEADER: timestamp,
            DELIVERY_HEADER: uuid.uuid4().hex,
        }
        try:
            self.outbound.check_url(batch.url)  # saved before the policy, or before it tightened
            async with http.post(batch.url, data=body, headers=headers, allow_redirects=False) as answer:
                if 200 <= answer.status < 300:
                    return Outcome(batch, None, answer.status)
                return Outcome(batch, f"the endpoint answered HTTP {answer.status}", answer.status)  # not its body
        except OutboundRefused as exc:
            return Outcome(batch, str(exc), None)
        except TimeoutError:
            return Outcome(batch, f"the endpoint did not answer within {self.timeout.total:g} s", None)
        except aiohttp.ClientError as exc:
            return Outcome(batch, failure_reason(exc), None)

    async def _settle_and_claim(self, limit: int, *, released: Sequence[ClaimedBatch] = ()) -> list[ClaimedBatch]:
        outcomes, self._outcomes = self._outcomes, []
        if not outcomes and limit <= 0 and not released:
            return []
        try:
            async with self.database.session() as session:
                now = self.now()
                for outcome in outcomes:
                    await self._settle(session, outcome, now)
                for batch in released:
                    await claim.release(session, endpoint_id=batch.endpoint_id)
                return await claim.claim_batches(session, now=now, limit=limit) if limit > 0 else []
        except Exception:  # e.g. the database restarting: keep the outcomes, retry next round
            log.exception("recording event deliveries failed")
            self._outcomes[:0] = outcomes
            return []

    async def _settle(self, session: AsyncSession, outcome: Outcome, now: datetime) -> None:
        batch = outcome.batch
        if outcome.error is None:
            await claim.delivered(session, batch, at=now, status_code=outcome.status_code or 200)
            return
        log.info("events to endpoint %s failed: %s", batch.endpoint_id, outcome.error)
        await claim.failed_attempt(
            session, batch, at=now, error=outcome.error, status_code=outcome.status_code,
            retry_at=now + backoff(batch.failures + 1), give_up_before=now - GIVE_UP_AFTER,
        )

    async def _prune_now_and_then(self) -> None:
        now = self.now()
        if self._pruned_at is not None and now - self._pruned_at < PRUNE_EVERY:
            return
        self._pruned_at = now
        try:
            async with self.database.session() as session:
                await claim.prune(session, now=now)
        except Exception:
            log.exception("pruning the event outbox failed")


def failure_reason(exc: aiohttp.ClientError) -> str:
    """A short reason in Herald's words: the same few texts whatever the target, so no detail leaks."""
    refusal = refusal_of(exc)
    if refusal is not None:
        return str(refusal)
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        reason = "host name not found"
    elif isinstance(exc, aiohttp.ClientConnectorCertificateError):
        reason = "TLS certificate not accepted"
    elif isinstance(exc, aiohttp.ClientSSLError):
        reason = "TLS handshake failed"
    elif isinstance(exc, aiohttp.ClientConnectorError):
        reason = "connection failed"
    elif isinstance(exc, aiohttp.ServerDisconnectedError):
        reason = "disconnected before answering"
    else:
        reason = "the request failed"
    return f"could not reach the endpoint: {reason}"
