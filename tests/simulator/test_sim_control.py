"""Control and fault injection: live scenario changes, reset, faults, determinism, template events."""

from __future__ import annotations

import asyncio
import time

import aiohttp
from aiohttp import web

from herald.simulator import SimulatorServer
from tests.simulator.conftest import Receiver, SimFactory, post_json, scenario, template_body


def messages_url(sim: SimulatorServer) -> str:
    return f"{sim.base_url}/v23.0/1090001/messages"


async def test_error_rate_5xx(start_sim: SimFactory, http: aiohttp.ClientSession) -> None:
    sim = start_sim(error_rate_5xx=1.0)
    status, body = await post_json(http, messages_url(sim), template_body())
    assert status == 500 and body["error"]["code"] == 131000
    async with http.post(f"{sim.base_url}/_sim/scenario?merge=1", json={"error_rate_5xx": 0}) as response:
        assert response.status == 200
    status, _ = await post_json(http, messages_url(sim), template_body())
    assert status == 200


async def test_timeout_hangs_and_may_accept(start_sim: SimFactory, http: aiohttp.ClientSession) -> None:
    sim = start_sim(timeout_probability=1.0, timeout_hang_ms=300, timeout_accept_probability=1.0)
    started = time.monotonic()
    status, body = await post_json(http, messages_url(sim), template_body())
    assert time.monotonic() - started >= 0.3
    assert status == 500 and body["error"]["code"] == 131000
    assert len(sim.messages()) == 1  # accepted although the caller saw an error: outcome unknown


async def test_latency(start_sim: SimFactory, http: aiohttp.ClientSession) -> None:
    sim = start_sim(latency_ms=150)
    started = time.monotonic()
    await post_json(http, messages_url(sim), template_body())
    assert time.monotonic() - started >= 0.15


async def test_reset_clears_sends(sim: SimulatorServer, http: aiohttp.ClientSession) -> None:
    await post_json(http, messages_url(sim), template_body())
    async with http.post(f"{sim.base_url}/_sim/reset") as response:
        assert response.status == 200
    async with http.get(f"{sim.base_url}/_sim/stats") as response:
        assert (await response.json())["accepted"] == 0
    async with http.get(f"{sim.base_url}/_sim/health") as response:
        assert (await response.json())["ok"] is True


async def test_same_seed_same_outcomes(receiver: Receiver, http: aiohttp.ClientSession) -> None:
    outcomes = []
    for _ in range(2):
        with SimulatorServer(scenario(read_probability=0.5, reply_probability=0.2, seed=7)) as sim:
            for i in range(20):
                await post_json(http, messages_url(sim), template_body(f"+551190000{i:04d}"))
            await asyncio.sleep(0.3)
            outcomes.append([tuple(m["statuses"]) for m in sim.messages()])
    assert outcomes[0] == outcomes[1]
    assert len(set(outcomes[0])) > 1


async def test_template_status_event_then_paused(sim: SimulatorServer, receiver: Receiver,
                                                 http: aiohttp.ClientSession) -> None:
    status, _ = await post_json(http, f"{sim.base_url}/_sim/template-status",
                                {"name": "hello", "language": "en_US", "status": "PAUSED", "reason": "LOW_QUALITY"})
    assert status == 200
    await receiver.wait_for(lambda: bool(receiver.values("message_template_status_update")))
    [event] = receiver.values("message_template_status_update")
    assert event["event"] == "PAUSED" and event["message_template_name"] == "hello"
    status, body = await post_json(http, messages_url(sim), template_body())
    assert status == 400 and body["error"]["code"] == 132015


async def test_verify_handshake(sim: SimulatorServer, http: aiohttp.ClientSession) -> None:
    async def challenge(request: web.Request) -> web.Response:
        if request.query.get("hub.verify_token") != "vt" or request.query.get("hub.mode") != "subscribe":
            return web.Response(status=403)
        return web.Response(text=request.query["hub.challenge"])

    app = web.Application()
    app.router.add_get("/hook", challenge)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        sim.set_webhook_url(f"http://127.0.0.1:{port}/hook")
        _, good = await post_json(http, f"{sim.base_url}/_sim/verify-webhook", {"verify_token": "vt"})
        _, bad = await post_json(http, f"{sim.base_url}/_sim/verify-webhook", {"verify_token": "no"})
        assert good["ok"] is True and bad["ok"] is False and bad["status"] == 403
    finally:
        await runner.cleanup()
