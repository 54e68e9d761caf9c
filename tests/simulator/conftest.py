"""A real simulator on loopback and a real webhook receiver; no mocks."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp import web

from herald.simulator import SimulatorServer

APP_SECRET = "test-app-secret"
TOKEN = "test-token"
FAST_DELAYS = {"sent": 5, "delivered": 25, "read": 50, "reply": 70}

POSITIONAL = {
    "name": "winter_sale", "language": "pt_BR", "status": "APPROVED", "category": "MARKETING",
    "parameter_format": "POSITIONAL",
    "components": [
        {"type": "HEADER", "format": "IMAGE"},
        {"type": "BODY", "text": "Oi {{1}}, use {{2}}", "example": {"body_text": [["Maria", "INV10"]]}},
        {"type": "BUTTONS", "buttons": [{"type": "QUICK_REPLY", "text": "Stop"}]},
    ],
}
NAMED = {
    "name": "order_ready", "language": "en_US", "status": "APPROVED", "category": "UTILITY",
    "parameter_format": "NAMED",
    "components": [{"type": "BODY", "text": "Hi {{first_name}}, order {{order_id}} is ready"}],
}
PLAIN = {
    "name": "hello", "language": "en_US", "status": "APPROVED", "category": "MARKETING",
    "components": [{"type": "BODY", "text": "Hello {{1}}"}],
}
PAUSED = {**PLAIN, "name": "paused_one", "status": "PAUSED"}
DISABLED = {**PLAIN, "name": "disabled_one", "status": "DISABLED"}


def scenario(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "phone_numbers": [
            {"phone_number_id": "1090001", "waba_id": "2090001", "display_phone_number": "+55 11 3000-0000",
             "access_token": TOKEN},
            {"phone_number_id": "1090002", "waba_id": "2090001", "display_phone_number": "+55 11 3000-0001",
             "access_token": TOKEN},
        ],
        "templates": [POSITIONAL, NAMED, PLAIN, PAUSED, DISABLED],
        "read_probability": 0.0, "reply_probability": 0.0,
        "status_delays_ms": FAST_DELAYS, "webhook_flush_ms": 10,
        "webhook_retry_base_ms": 20, "seed": 42,
    }
    base.update(overrides)
    return base


@dataclass
class Receiver:
    """An aiohttp webhook endpoint recording raw bodies; answers `statuses` in turn, then 200."""

    url: str = ""
    posts: list[tuple[bytes, str | None]] = field(default_factory=list)
    answers: list[int] = field(default_factory=list)
    refused: int = 0

    def bodies(self) -> list[dict[str, Any]]:
        return [orjson.loads(raw) for raw, _ in self.posts]

    def values(self, field_name: str = "messages") -> list[dict[str, Any]]:
        return [change["value"] for body in self.bodies() for entry in body["entry"]
                for change in entry["changes"] if change["field"] == field_name]

    def statuses(self) -> list[dict[str, Any]]:
        return [s for value in self.values() for s in value.get("statuses", [])]

    def inbound(self) -> list[dict[str, Any]]:
        return [m for value in self.values() for m in value.get("messages", [])]

    async def wait_for(self, condition: Callable[[], bool], within: float = 5.0) -> None:
        deadline = asyncio.get_running_loop().time() + within
        while not condition():
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"timed out; got {len(self.posts)} posts: {self.bodies()}")
            await asyncio.sleep(0.01)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    recorder = Receiver()

    async def receive(request: web.Request) -> web.Response:
        raw = await request.read()
        if recorder.answers:
            status = recorder.answers.pop(0)
            if status != 200:
                recorder.refused += 1
                return web.Response(status=status, text="nope")
        recorder.posts.append((raw, request.headers.get("X-Hub-Signature-256")))
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/webhook", receive)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    recorder.url = f"http://127.0.0.1:{port}/webhook"
    yield recorder
    await runner.cleanup()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {TOKEN}"}) as session:
        yield session


SimFactory = Callable[..., SimulatorServer]


@pytest.fixture
async def start_sim(receiver: Receiver) -> AsyncIterator[SimFactory]:
    started: list[SimulatorServer] = []

    def start(**overrides: Any) -> SimulatorServer:
        sim = SimulatorServer(scenario(**overrides), webhook_url=receiver.url, app_secret=APP_SECRET).start()
        started.append(sim)
        return sim

    yield start
    for sim in started:
        await asyncio.to_thread(sim.stop)


@pytest.fixture
async def sim(start_sim: SimFactory) -> SimulatorServer:
    return start_sim()


def valid_signature(raw: bytes, header: str | None, secret: str = APP_SECRET) -> bool:
    expected = hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()
    return header is not None and hmac.compare_digest(f"sha256={expected}", header)


def template_body(to: str = "+5511988887777", *, name: str = "hello", language: str = "en_US",
                  params: list[str] | None = None, **extra: Any) -> dict[str, Any]:
    components = [{"type": "body", "parameters": [{"type": "text", "text": p} for p in (params or ["Maria"])]}]
    return {"messaging_product": "whatsapp", "to": to, "type": "template",
            "template": {"name": name, "language": {"code": language}, "components": components}, **extra}


async def post_json(http: aiohttp.ClientSession, url: str, body: Any, **kwargs: Any) -> tuple[int, Any]:
    async with http.post(url, json=body, **kwargs) as response:
        return response.status, await response.json()
