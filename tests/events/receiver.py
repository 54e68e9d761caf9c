"""A real event endpoint on a loopback port, verifying signatures the way docs/events.md tells receivers to."""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

RECEIVER_SECRET = "receiver-secret-0123456789"
MAX_AGE_SECONDS = 300


def verify(secret: str, timestamp: str, body: bytes, signature: str, *, now: float, max_age: float = MAX_AGE_SECONDS) -> bool:
    """docs/events.md, "Verifying a POST": the HMAC of ``<timestamp>.<body>``, and a recent timestamp."""
    expected = "sha256=" + hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, signature) and abs(now - int(timestamp)) <= max_age


@dataclass
class EventReceiver:
    """Answers 2xx to each verified POST and keeps each event once by its id (at-least-once delivery).

    ``failing`` makes it answer 503; ``bad_signatures`` counts POSTs that did not verify (answered 401);
    ``attempts`` counts each event id's arrivals, whatever the answer; ``bodies`` holds each verified
    POST's event ids, in the order received."""

    secret: str = RECEIVER_SECRET
    failing: bool = False
    events: dict[str, dict[str, Any]] = field(default_factory=dict)
    attempts: Counter[str] = field(default_factory=Counter)
    bodies: list[list[str]] = field(default_factory=list)
    posts: int = 0
    bad_signatures: int = 0
    clock_offset: float = 0.0  # seconds the receiver's clock is ahead of the real one (a fake Herald clock)
    port: int = 0
    _runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/herald/events"

    async def start(self) -> None:
        if not self.port:
            with socket.socket() as sock:
                sock.bind(("127.0.0.1", 0))
                self.port = sock.getsockname()[1]
        app = web.Application()
        app.router.add_post("/herald/events", self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port, reuse_address=True).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.posts += 1
        timestamp = request.headers.get("X-Herald-Timestamp", "0")
        signature = request.headers.get("X-Herald-Signature", "")
        if not verify(self.secret, timestamp, body, signature, now=time.time() + self.clock_offset):
            self.bad_signatures += 1
            return web.Response(status=401, text="bad signature: this text must never be stored")
        batch = json.loads(body)
        self.bodies.append([event["id"] for event in batch])
        for event in batch:
            self.attempts[event["id"]] += 1
        if self.failing:
            return web.Response(status=503, text="receiver is down: this text must never be stored")
        for event in batch:
            self.events.setdefault(event["id"], event)
        return web.json_response({"ok": True})

    def of_type(self, event_type: str) -> list[dict[str, Any]]:
        return [e for e in self.events.values() if e["type"] == event_type]
