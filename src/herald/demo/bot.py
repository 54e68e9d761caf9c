"""The demo's bot flow: a real HTTP endpoint that answers campaign replies and records funnel steps.

It does what a customer's bot would: checks ``X-Herald-Signature-256``, ignores a delivery id it has
already handled (Herald retries until a 2xx), answers the user through ``POST /messages`` and
reports ``replied`` → ``offer_viewed`` → ``converted`` through ``POST /campaigns/{id}/funnel-events``.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import random
import socket
from typing import Any

import orjson
from aiohttp import web

from herald.demo.api import Api, DemoError
from herald.demo.data import OFFER_BUTTON

log = logging.getLogger("herald.demo.bot")
PATH = "/hooks/herald"
CONVERSION_PROBABILITY = 0.5


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class DemoBot:
    def __init__(self, api: Api, secret: str, rng: random.Random):
        self.api = api
        self.secret = secret.encode()
        self.rng = rng
        self.number_id: int | None = None  # set once the demo number exists
        self.port = free_port()
        self.handled: set[str] = set()
        # (campaign id, contact id) of every contact whose reply reached the bot: the demo waits for them.
        self.replied: set[tuple[int, int]] = set()
        self._runner: web.AppRunner | None = None
        self._closing = False

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{PATH}"

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post(PATH, self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        self._closing = True  # Herald keeps what arrives now and redelivers it to the next bot run
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def _signed(self, body: bytes, signature: str) -> bool:
        expected = "sha256=" + hmac.new(self.secret, body, hashlib.sha256).hexdigest()
        return hmac.compare_digest(signature, expected)

    async def _handle(self, request: web.Request) -> web.Response:
        if self._closing:
            return web.Response(status=503, text="the demo is stopping")
        body = await request.read()
        if not self._signed(body, request.headers.get("X-Herald-Signature-256", "")):
            return web.Response(status=401, text="bad signature")
        delivery = request.headers.get("X-Herald-Delivery", "")
        if delivery in self.handled:
            return web.json_response({"ok": True, "duplicate": True})
        document = orjson.loads(body)
        if document.get("type") == "campaign.reply":
            try:
                await self._converse(document)
            except DemoError as exc:
                # The reply itself was received: a failed answer must not make Herald redeliver it.
                log.warning("demo bot: %s", exc)
        self.handled.add(delivery)
        return web.json_response({"ok": True})

    async def _converse(self, document: dict[str, Any]) -> None:
        campaign_id = document["campaign"]["id"]
        contact = document["contact"]
        message = document["message"]
        await self._step(campaign_id, contact["id"], "replied")
        self.replied.add((campaign_id, contact["id"]))  # after the step: the demo's table then agrees with it
        pressed = (message.get("button") or {}).get("payload")
        first = (contact.get("name") or "there").split()[0]
        to = contact["phone"] or contact["wa_user_id"]  # a username user is answered by their user id
        if message.get("type") == "text":  # the user wrote back to one of our answers
            await self._answer(to, f"Thanks, {first}! Someone from the team will read this.")
        elif pressed == OFFER_BUTTON:
            await self._answer(to, f"Great, {first}! Your code WINTER30 takes 30% off until Sunday.")
            await self._step(campaign_id, contact["id"], "offer_viewed")
            if self.rng.random() < CONVERSION_PROBABILITY:
                await self._step(campaign_id, contact["id"], "converted")
        else:
            await self._answer(to, f"No problem, {first}. We'll keep your offer for a week.")

    def replies_of(self, campaign_id: int) -> int:
        return sum(1 for campaign, _ in self.replied if campaign == campaign_id)

    async def _step(self, campaign_id: int, contact_id: int, step: str) -> None:
        await self.api.post(f"/campaigns/{campaign_id}/funnel-events", {"contact_id": contact_id, "step": step})

    async def _answer(self, to: str, text: str) -> None:
        if self.number_id is not None:
            await self.api.post("/messages", {"whatsapp_number_id": self.number_id, "to": to, "text": text})
