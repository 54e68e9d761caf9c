"""Measure the simulator's send ceiling: `python -m herald.simulator.selfbench [--sends N] [--concurrency C]`.

The simulator runs in its own process (as in `herald simulator`), webhooks go to a sink in this
process, and N template sends are fired with C concurrent aiohttp requests.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import socket
import tempfile
import time
from typing import Any

import aiohttp
from aiohttp import web

from herald.simulator.server import serve

TEMPLATE = {
    "name": "bench_offer", "language": "en_US", "status": "APPROVED", "category": "MARKETING",
    "components": [{"type": "BODY", "text": "Hi {{1}}, {{2}} off today"}],
}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def _start_sink() -> tuple[web.AppRunner, int, dict[str, int]]:
    counts = {"posts": 0}

    async def receive(request: web.Request) -> web.Response:
        await request.read()
        counts["posts"] += 1
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/webhook", receive)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = _free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner, port, counts


async def _wait_ready(session: aiohttp.ClientSession, base: str) -> None:
    for _ in range(200):
        try:
            async with session.get(f"{base}/_sim/health") as response:
                if response.status == 200:
                    return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.05)
    raise RuntimeError("simulator did not start")


async def _fire(session: aiohttp.ClientSession, base: str, sends: int, concurrency: int) -> dict[str, int]:
    url = f"{base}/v23.0/1090001/messages"
    headers = {"Authorization": "Bearer bench"}
    outcome: dict[str, int] = {}
    counter = iter(range(sends))

    async def worker() -> None:
        for index in counter:
            body = {"messaging_product": "whatsapp", "to": f"+55119{index:08d}", "type": "template",
                    "template": {"name": "bench_offer", "language": {"code": "en_US"}, "components": [
                        {"type": "body", "parameters": [{"type": "text", "text": "Maria"},
                                                         {"type": "text", "text": "10%"}]}]}}
            async with session.post(url, json=body, headers=headers) as response:
                await response.read()
                outcome[str(response.status)] = outcome.get(str(response.status), 0) + 1

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return outcome


async def run(sends: int, concurrency: int, latency_ms: float) -> dict[str, Any]:
    runner, sink_port, counts = await _start_sink()
    scenario = {"phone_numbers": [{"phone_number_id": "1090001", "throughput_mps": 0}],
                "templates": [TEMPLATE], "latency_ms": latency_ms, "reply_probability": 0.05,
                "status_delays_ms": {"sent": 10, "delivered": 50, "read": 100, "reply": 150}, "seed": 7}
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump(scenario, handle)
    port = _free_port()
    process = multiprocessing.Process(
        target=serve, args=("127.0.0.1", port, f"http://127.0.0.1:{sink_port}/webhook", "bench", handle.name),
        daemon=True,
    )
    process.start()
    base = f"http://127.0.0.1:{port}"
    try:
        connector = aiohttp.TCPConnector(limit=concurrency)
        async with aiohttp.ClientSession(connector=connector) as session:
            await _wait_ready(session, base)
            await _fire(session, base, min(200, sends), concurrency)  # warm-up
            started = time.perf_counter()
            outcome = await _fire(session, base, sends, concurrency)
            elapsed = time.perf_counter() - started
            await asyncio.sleep(1.0)
            async with session.get(f"{base}/_sim/stats") as response:
                stats = await response.json()
    finally:
        process.terminate()
        process.join(5)
        await runner.cleanup()
    return {"sends": sends, "concurrency": concurrency, "latency_ms": latency_ms,
            "seconds": round(elapsed, 2), "sends_per_second": round(sends / elapsed),
            "http_status": outcome, "webhook_posts": counts["posts"], "sim_webhooks": stats["webhooks"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sends", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=200)
    parser.add_argument("--latency-ms", type=float, default=50)
    args = parser.parse_args()
    result = asyncio.run(run(args.sends, args.concurrency, args.latency_ms))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
