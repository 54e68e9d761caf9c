"""Forwarding replies to bot flows: signed POSTs, retried with back-off, in order per contact.

A loop of the worker. Each round settles the outcomes of finished POSTs and claims what became
due in one transaction, then POSTs the claimed deliveries concurrently (bounded). A bot that is
down only delays its own deliveries: the webhook endpoint and the campaign sender never wait on
it. Delivery is at least once — a worker dying after the POST but before recording it makes the
delivery go again after its lease — so bots dedupe on ``X-Herald-Delivery``, which never changes.

Every POST goes through the outbound URL policy (``herald.kit.outbound``), redirects are not
followed, and a failure is recorded as a status and a short reason of Herald's own words: never
what the target answered, which viewers would read at ``/bot-deliveries``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import aiohttp
from sqlalchemy.ext.asyncio import AsyncSession

from herald.kit.crypto import SecretBox, sign_body
from herald.kit.db import Database
from herald.kit.outbound import OutboundPolicy, OutboundRefused, client_session, refusal_of
from herald.kit.stopping import event_or_stop
from herald.kit.types import utcnow
from herald.ops.metrics import BOT_DELIVERIES
from herald.replies import claim
from herald.replies.claim import ClaimedDelivery

log = logging.getLogger("herald.replies")

Clock = Callable[[], datetime]

FIRST_BACKOFF = timedelta(seconds=1)
MAX_BACKOFF = timedelta(minutes=10)
GIVE_UP_AFTER = timedelta(hours=24)
HTTP_TIMEOUT = aiohttp.ClientTimeout(total=10, connect=5)
CONCURRENCY = 64
POLL_SECONDS = 0.25
# On stop, POSTs under way get this long to finish; those still waiting for their bot are then
# cancelled and their deliveries released, to go again at once from the next worker.
STOP_GRACE_SECONDS = 3.0


def backoff(attempts: int) -> timedelta:
    """1 s, 2 s, 4 s … after the 1st, 2nd, 3rd failed attempt, capped at 10 minutes."""
    return min(FIRST_BACKOFF * 2 ** min(max(attempts - 1, 0), 20), MAX_BACKOFF)


@dataclass(frozen=True, slots=True)
class Outcome:
    delivery: ClaimedDelivery
    error: str | None  # None: the bot flow answered 2xx


class BotDeliveryEngine:
    """Delivers due bot deliveries until stopped; ``now`` is injectable so tests can jump a day."""

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
        self._in_flight: set[asyncio.Task[None]] = set()
        self._claimed: dict[asyncio.Task[None], ClaimedDelivery] = {}
        self._finished = asyncio.Event()

    async def run(self, stop: asyncio.Event) -> None:
        async with self._http() as http:
            while not stop.is_set():
                self._finished.clear()
                self._start(http, await self._settle_and_claim(self.concurrency - len(self._in_flight)))
                await event_or_stop(stop, self._finished, POLL_SECONDS)
            # Let POSTs under way finish rather than send them twice later, for a few seconds:
            # a stop must not wait out a slow bot's timeout.
            if self._in_flight:
                await asyncio.wait(set(self._in_flight), timeout=STOP_GRACE_SECONDS)
            cut = list(self._in_flight)
            for task in cut:
                task.cancel()
            await asyncio.gather(*cut, return_exceptions=True)
            await self._settle_and_claim(0, released=[self._claimed.pop(task) for task in cut if task.cancelled()])

    async def deliver_due(self) -> int:
        """One round to completion: claims what is due, POSTs it, records the outcomes. For tests and tools."""
        async with self._http() as http:
            claimed = await self._settle_and_claim(self.concurrency)
            self._start(http, claimed)
            await asyncio.gather(*self._in_flight, return_exceptions=True)
            await self._settle_and_claim(0)
            return len(claimed)

    def _http(self) -> aiohttp.ClientSession:
        return client_session(self.outbound, timeout=self.timeout, limit=self.concurrency, headers={"User-Agent": "Herald"})

    def _start(self, http: aiohttp.ClientSession, claimed: list[ClaimedDelivery]) -> None:
        for delivery in claimed:
            task = asyncio.create_task(self._deliver(http, delivery), name=f"bot-delivery-{delivery.id}")
            self._in_flight.add(task)
            self._claimed[task] = delivery
            task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._in_flight.discard(task)
        if not task.cancelled():
            self._claimed.pop(task, None)
        self._finished.set()

    async def _deliver(self, http: aiohttp.ClientSession, delivery: ClaimedDelivery) -> None:
        try:
            error = await self._post(http, delivery)
        except Exception:  # any failure is a failed attempt, retried later
            log.exception("bot delivery %s failed unexpectedly", delivery.delivery_id)
            error = "could not deliver: internal error (see the worker's log)"
        self._outcomes.append(Outcome(delivery, error))

    async def _post(self, http: aiohttp.ClientSession, delivery: ClaimedDelivery) -> str | None:
        body = delivery.body.encode()
        try:
            secret = self.box.decrypt(delivery.secret_enc)
        except ValueError:
            return "the bot flow's secret cannot be decrypted with the configured keys"
        headers = {
            "Content-Type": "application/json",
            "X-Herald-Signature-256": sign_body(secret, body),
            "X-Herald-Delivery": delivery.delivery_id,
        }
        try:
            self.outbound.check_url(delivery.webhook_url)  # saved before the policy, or before it tightened
            async with http.post(delivery.webhook_url, data=body, headers=headers, allow_redirects=False) as answer:
                if 200 <= answer.status < 300:
                    return None
                return f"the bot flow answered HTTP {answer.status}"  # not its body: viewers read this
        except OutboundRefused as exc:
            return str(exc)
        except TimeoutError:
            return f"the bot flow did not answer within {self.timeout.total:g} s"
        except aiohttp.ClientError as exc:
            return failure_reason(exc)

    async def _settle_and_claim(
        self, limit: int, *, released: Sequence[ClaimedDelivery] = ()
    ) -> list[ClaimedDelivery]:
        outcomes, self._outcomes = self._outcomes, []
        if not outcomes and limit <= 0 and not released:
            return []
        try:
            async with self.database.session() as session:
                now = self.now()
                for outcome in outcomes:
                    await self._settle(session, outcome, now)
                for delivery in released:
                    await claim.release(session, delivery_id=delivery.id)
                return await claim.claim_deliveries(session, now=now, limit=limit) if limit > 0 else []
        except Exception:  # e.g. the database restarting: keep the outcomes, retry next round
            log.exception("recording bot deliveries failed")
            self._outcomes[:0] = outcomes
            return []

    async def _settle(self, session: AsyncSession, outcome: Outcome, now: datetime) -> None:
        delivery = outcome.delivery
        if outcome.error is None:
            await claim.delivered(session, delivery_id=delivery.id, at=now)
            BOT_DELIVERIES.labels(result="delivered").inc()
        elif now - delivery.created_at >= GIVE_UP_AFTER:
            log.warning("bot delivery %s failed for good: %s", delivery.delivery_id, outcome.error)
            await claim.give_up(session, delivery_id=delivery.id, error=outcome.error)
            BOT_DELIVERIES.labels(result="failed").inc()
        else:
            BOT_DELIVERIES.labels(result="retry").inc()
            await claim.retry_later(
                session, delivery_id=delivery.id, at=now + backoff(delivery.attempts), error=outcome.error
            )


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
    return f"could not reach the bot flow: {reason}"
