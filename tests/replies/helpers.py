"""A real bot-flow endpoint on a loopback port, and the campaign setup the reply tests share."""

from __future__ import annotations

import hashlib
import hmac
import socket
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web

from herald.kit.crypto import SecretBox
from herald.kit.db import Database
from herald.simulator import Scenario
from tests.dispatch.test_campaign_dispatch import VARIABLES, upload_banner
from tests.factories import (
    graph_template,
    make_active_campaign,
    make_bot_flow,
    make_contacts,
    make_media,
    make_number,
    make_template,
)

BOT_SECRET = "bot-secret"
PHONE_NUMBER_ID = "1090001"


@dataclass
class Received:
    delivery_id: str
    body: bytes
    signature: str

    @property
    def document(self) -> dict[str, Any]:
        return orjson.loads(self.body)  # type: ignore[no-any-return]


@dataclass
class BotEndpoint:
    """Answers like a bot flow would: verifies the signature, dedupes on X-Herald-Delivery.

    ``failing`` makes it answer 503 (the bot is down); ``stop()`` and ``start()`` again on the same
    port make it unreachable for a while. ``accepted`` holds each delivery once, in arrival order;
    ``duplicates`` counts deliveries that came again after a 2xx.
    """

    secret: str = BOT_SECRET
    failing: bool = False
    fail_ids: set[str] = field(default_factory=set)
    accepted: list[Received] = field(default_factory=list)
    attempts: Counter[str] = field(default_factory=Counter)
    duplicates: int = 0
    bad_signatures: int = 0
    port: int = 0
    _runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/herald"

    async def start(self) -> None:
        if not self.port:
            with socket.socket() as sock:
                sock.bind(("127.0.0.1", 0))
                self.port = sock.getsockname()[1]
        app = web.Application()
        app.router.add_post("/hooks/herald", self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port, reuse_address=True).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        signature = request.headers.get("X-Herald-Signature-256", "")
        expected = "sha256=" + hmac.new(self.secret.encode(), body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(signature, expected) or request.content_type != "application/json":
            self.bad_signatures += 1
            return web.Response(status=401, text="bad signature")
        delivery_id = request.headers["X-Herald-Delivery"]
        self.attempts[delivery_id] += 1
        if self.failing or delivery_id in self.fail_ids:
            return web.Response(status=503, text="bot is down")
        if any(r.delivery_id == delivery_id for r in self.accepted):
            self.duplicates += 1
        else:
            self.accepted.append(Received(delivery_id, body, signature))
        return web.json_response({"ok": True})

    def texts_from(self, phone: str) -> list[str]:
        return [r.document["message"].get("text") or r.document["message"]["type"]
                for r in self.accepted if r.document["contact"]["phone"] == phone]


def scenario() -> Scenario:
    return Scenario.model_validate({
        "templates": [graph_template()], "seed": 5, "read_probability": 0, "reply_probability": 0,
        "status_delays_ms": {"sent": 5, "delivered": 10, "read": 20, "reply": 30},
    })


@dataclass
class CampaignSetup:
    number_id: int
    bot_flow_id: int
    campaign_id: int
    contact_ids: list[int]
    phones: list[str]


async def vip_campaign(
    database: Database, box: SecretBox, *, org_id: int, sim_url: str, bot_url: str, count: int = 3,
    extra: list[dict[str, Any]] | None = None,
) -> CampaignSetup:
    """An active campaign to ``count`` vip contacts (plus ``extra`` contacts outside the audience)."""
    number_id = await make_number(database, box, org_id=org_id, base_url=sim_url)
    await make_template(database, org_id=org_id)
    media = await make_media(database, org_id=org_id, number_id=number_id, media_id=await upload_banner(sim_url))
    bot = await make_bot_flow(database, box, org_id=org_id, url=bot_url, secret=BOT_SECRET)
    phones = [f"+1415555{2000 + i}" for i in range(count)]
    specs = [{"phone": p, "name": f"Vip {i}", "tags": ["vip"], "valued_tags": {"customer_id": str(100 + i)}}
             for i, p in enumerate(phones)]
    ids = await make_contacts(database, org_id=org_id, specs=specs + (extra or []))
    campaign = await make_active_campaign(
        database, org_id=org_id, number_id=number_id, audience={"tags_any": ["vip"]}, variables=VARIABLES,
        media_row_id=media, bot_flow_id=bot, rate=80,
    )
    return CampaignSetup(number_id, bot, campaign, ids, phones + [s["phone"] for s in extra or []])
