"""Benchmark: what events out cost the sends and the webhook intake, with a receiver that answers in 2 s.

Set-up, twice on fresh databases (``bench_webhooks``' deployment: on SQLite one ``herald serve``
with the embedded worker, on PostgreSQL ``herald serve`` plus one ``herald worker``): the Graph
simulator (50 ms latency, 80 msg/s, its own webhooks off) and a campaign of CAMPAIGN_MESSAGES
contacts paced at CAMPAIGN_RATE msg/s. While it sends, the delivered and read statuses of
``events // 2`` fresh messages are offered to ``/webhooks/whatsapp`` in an open loop at 3,000
events/s (``bench_webhooks._latency_phase``: each answer timed from its scheduled departure).

- ``without``: the organization has no event endpoint (what every organization pays: nothing).
- ``with``: it has one, subscribed to every event type, on a receiver in a process of its own that
  answers each POST after SLOW_SECONDS. Every status applied and every send then appends outbox
  rows in its own transaction, and the deliverer POSTs batches the receiver holds for 2 s each.

Figures: the sends/s the simulator accepted during the phase and the webhook answers' p99, with
and without; ``send_ratio`` = sends with / without, ``p99_ratio`` = p99 with / without. Target: a
slow receiver does not slow the sends (send_ratio ≥ 0.9) nor the intake (p99 with < 100 ms, the
webhook target). ``events_received``: events the slow receiver got during the phase (it is meant
to fall behind: they wait in the outbox).
Run: ``python -m bench.bench_events [EVENTS] [DB_URL]``.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from bench import seed as seeding
from bench.bench_webhooks import PHONE_NUMBER_ID, WABA_ID, _latency_phase, _scenario
from bench.common import HERALD, ROOT, free_port, process, scratch_database, sync_url

CAMPAIGN_MESSAGES = 20_000
CAMPAIGN_RATE = 80  # msg/s: the number's throughput, so any slowdown of the sender shows
SLOW_SECONDS = 2.0
RECEIVER_SECRET = "bench-receiver-secret"


def slow_receiver_app() -> Any:
    from aiohttp import web

    received = {"events": 0, "posts": 0}

    async def receive(request: web.Request) -> web.Response:
        body = await request.json()
        await _sleep(SLOW_SECONDS)
        received["events"] += len(body)
        received["posts"] += 1
        return web.json_response({"ok": True})

    async def count(_: web.Request) -> web.Response:
        return web.json_response(received)

    app = web.Application()
    app.router.add_post("/events", receive)
    app.router.add_get("/count", count)
    return app


async def _sleep(seconds: float) -> None:
    import asyncio

    await asyncio.sleep(seconds)


def _serve_slow_receiver(port: int) -> None:
    from aiohttp import web

    web.run_app(slow_receiver_app(), host="127.0.0.1", port=port, print=None)


def _add_endpoint(db_url: str, url: str) -> None:
    from sqlalchemy import create_engine, insert, select

    from herald.events.types import ALL_TYPES
    from herald.kit.crypto import SecretBox
    from herald.models import EventEndpoint, Organization

    engine = create_engine(sync_url(db_url))
    with engine.begin() as conn:
        org_id = conn.execute(select(Organization.id).where(Organization.slug == "bench")).scalar_one()
        conn.execute(insert(EventEndpoint).values(
            org_id=org_id, url=url, secret_enc=SecretBox(seeding.ENCRYPTION_KEY).encrypt(RECEIVER_SECRET),
            event_types=list(ALL_TYPES), description="bench", failures=0, created_at=datetime.now(UTC),
        ))
    engine.dispose()


def _phase(events: int, db_url: str | None, receiver: str | None) -> dict[str, Any]:
    from sqlalchemy import create_engine

    from bench.bench_dispatch import sim_stats, simulator, worker_env, workers
    from bench.bench_webhooks import _set_campaign

    sqlite = db_url is None
    with tempfile.TemporaryDirectory(prefix="herald-bench-events-") as tmp, ExitStack() as stack:
        workdir = Path(tmp)
        url = stack.enter_context(scratch_database(db_url, workdir))
        sim = stack.enter_context(simulator(_scenario(), workdir))
        seeded = seeding.seed(url, contacts=CAMPAIGN_MESSAGES, numbers=[(PHONE_NUMBER_ID, WABA_ID)], base_url=sim,
                              throughput=80, rate_per_second=CAMPAIGN_RATE, status="paused")
        seeding.materialize(url, seeded.campaign_ids)
        if receiver is not None:
            _add_endpoint(url, f"{receiver}/events")
        env = {**worker_env(url, workdir, "serve"), "HERALD_EMBEDDED_WORKER": "true" if sqlite else "false"}
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        stack.enter_context(process([HERALD, "serve", "--port", str(port)], env, f"{base}/openapi.json"))
        if not sqlite:
            stack.enter_context(workers(url, workdir, 1))
        engine = create_engine(sync_url(url))
        stack.callback(engine.dispose)
        _set_campaign(engine, seeded.campaign_ids[0], "active")
        deadline = time.monotonic() + 60
        while sim_stats(sim)["accepted"] < CAMPAIGN_RATE and time.monotonic() < deadline:
            time.sleep(0.2)
        sent_before, started = sim_stats(sim)["accepted"], time.perf_counter()
        during = _latency_phase(base, url, engine, events // 2, "5541")
        sends_per_s = (sim_stats(sim)["accepted"] - sent_before) / (time.perf_counter() - started)
        received = httpx.get(f"{receiver}/count").json() if receiver else {"events": 0, "posts": 0}
    return {"sends_per_s": round(sends_per_s, 1), "p50_ms": during["p50_ms"], "p99_ms": during["p99_ms"],
            "apply_lag_s": during["apply_lag_s"], "events_received": received["events"], "posts": received["posts"]}


def run(events: int = 20_000, db_url: str | None = None) -> dict[str, Any]:
    without = _phase(events, db_url, None)
    port = free_port()
    receiver = f"http://127.0.0.1:{port}"
    code = f"from bench.bench_events import _serve_slow_receiver; _serve_slow_receiver({port})"
    with process([sys.executable, "-c", code], {**os.environ, "PYTHONPATH": str(ROOT)}, f"{receiver}/count"):
        with_receiver = _phase(events, db_url, receiver)
    send_ratio = with_receiver["sends_per_s"] / max(without["sends_per_s"], 1e-9)
    p99_ratio = with_receiver["p99_ms"] / max(without["p99_ms"], 1e-9)
    return {
        "database": "sqlite" if db_url is None else "postgresql", "events": events,
        "campaign_pace": CAMPAIGN_RATE, "receiver_seconds": SLOW_SECONDS,
        "sends_per_s": with_receiver["sends_per_s"], "baseline_sends_per_s": without["sends_per_s"],
        "send_ratio": round(send_ratio, 3),
        "p99_ms": with_receiver["p99_ms"], "baseline_p99_ms": without["p99_ms"], "p99_ratio": round(p99_ratio, 2),
        "with": with_receiver, "without": without,
    }


if __name__ == "__main__":
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000
    print(json.dumps(run(count, sys.argv[2] if len(sys.argv) > 2 else None), indent=2))
