"""Benchmark: what events out cost the sends and the webhook intake, with a receiver that answers in 2 s.

Set-up, in every phase on a fresh database (``bench_webhooks``' deployment: on SQLite one ``herald
serve`` with the embedded worker, on PostgreSQL ``herald serve`` plus one ``herald worker``): the
Graph simulator (50 ms latency, its own webhooks off) with a number of the top tier (1,000 msg/s)
and a campaign of CAMPAIGN_MESSAGES contacts paced at CAMPAIGN_RATE = 1,000 msg/s, the issue's
campaign. While it sends, the delivered and read statuses of ``events // 2`` fresh messages are
offered to ``/webhooks/whatsapp`` in an open loop at 3,000 events/s
(``bench_webhooks._latency_phase``: each answer timed from its scheduled departure). With the
sends' ``message.sent``, that is the issue's "about 3,000 events/s with statuses" and more.

- ``without``: the organization has no event endpoint (what every organization pays: nothing).
- ``with``: it has one, subscribed to every event type, on a receiver in a process of its own that
  answers each POST after SLOW_SECONDS. Every status applied and every send then appends outbox
  rows in its own transaction, and the deliverer POSTs batches the receiver holds for 2 s each.

The machine is shared and noisy, so the two phases alternate, ROUNDS times each, in the order
without, with, with, without, … (neither always goes first), and each phase reports the load
average when it ended. Figures: the median over the rounds of the sends/s the simulator accepted
during the phase and of the webhook answers' p99, with and without; ``send_ratio`` = sends with /
without, ``p99_ratio`` = p99 with / without. Target: a slow receiver does not slow the sends
(send_ratio ≥ 0.9) nor the intake (p99_ratio ≤ P99_RATIO_MAX). The absolute p99 (under 100 ms) is
the ``webhooks applied`` row's target; here the baseline is the same deployment without the
endpoint, measured in the same minutes. ``events_received``: events the slow receiver got during
the phase (it is meant to fall behind: they wait in the outbox).
Run: ``python -m bench.bench_events [EVENTS] [DB_URL or sqlite] [ROUNDS] [CAMPAIGN_RATE] [OFFERED_RATE]``.
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
from statistics import median
from typing import Any

import httpx

from bench import seed as seeding
from bench.bench_webhooks import OPEN_LOOP_RATE, PHONE_NUMBER_ID, WABA_ID, _latency_phase
from bench.bench_webhooks import _scenario as webhooks_scenario
from bench.common import HERALD, ROOT, free_port, process, scratch_database, sync_url

CAMPAIGN_MESSAGES = 60_000  # more than a phase sends at CAMPAIGN_RATE
CAMPAIGN_RATE = 1000  # msg/s: the campaign, at the number's throughput, so any slowdown shows
ROUNDS = 3
P99_RATIO_MAX = 1.25  # what this shared machine's noise alone gives between two runs of one phase
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


def _scenario(campaign_rate: int) -> dict[str, Any]:
    """``bench_webhooks``' simulator with the number's throughput at the campaign's pace."""
    scenario = webhooks_scenario()
    scenario["phone_numbers"][0]["throughput_mps"] = campaign_rate
    return scenario


def _phase(events: int, db_url: str | None, receiver: str | None, campaign_rate: int = CAMPAIGN_RATE,
           offered_rate: int = OPEN_LOOP_RATE) -> dict[str, Any]:
    from sqlalchemy import create_engine

    from bench.bench_dispatch import sim_stats, simulator, worker_env, workers
    from bench.bench_webhooks import _set_campaign

    sqlite = db_url is None
    with tempfile.TemporaryDirectory(prefix="herald-bench-events-") as tmp, ExitStack() as stack:
        workdir = Path(tmp)
        url = stack.enter_context(scratch_database(db_url, workdir))
        sim = stack.enter_context(simulator(_scenario(campaign_rate), workdir))
        seeded = seeding.seed(url, contacts=CAMPAIGN_MESSAGES, numbers=[(PHONE_NUMBER_ID, WABA_ID)], base_url=sim,
                              throughput=campaign_rate, rate_per_second=campaign_rate, status="paused")
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
        while sim_stats(sim)["accepted"] < campaign_rate and time.monotonic() < deadline:
            time.sleep(0.2)
        received_before = _received(receiver)
        sent_before, started = sim_stats(sim)["accepted"], time.perf_counter()
        during = _latency_phase(base, url, engine, events // 2, "5541", offered_rate)
        sends_per_s = (sim_stats(sim)["accepted"] - sent_before) / (time.perf_counter() - started)
        received = {key: n - received_before[key] for key, n in _received(receiver).items()}
        pending = _pending_events(engine)
    return {"sends_per_s": round(sends_per_s, 1), "p50_ms": during["p50_ms"], "p99_ms": during["p99_ms"],
            "apply_lag_s": during["apply_lag_s"], "events_received": received["events"], "posts": received["posts"],
            "events_pending": pending, "load_average": round(os.getloadavg()[0], 2)}


def _received(receiver: str | None) -> dict[str, int]:
    """What the slow receiver has got so far (it counts across phases)."""
    return httpx.get(f"{receiver}/count").json() if receiver else {"events": 0, "posts": 0}  # type: ignore[no-any-return]


def _pending_events(engine: Any) -> int:
    from sqlalchemy import text

    with engine.connect() as conn:
        return int(conn.execute(text(
            "SELECT coalesce(sum(event_count), 0) FROM event_outbox WHERE status = 'pending'"
        )).scalar_one())


def run(events: int = 20_000, db_url: str | None = None, rounds: int = ROUNDS, campaign_rate: int = CAMPAIGN_RATE,
        offered_rate: int = OPEN_LOOP_RATE) -> dict[str, Any]:
    """The row; ``campaign_rate`` and ``offered_rate`` lower than the issue's only to find a load the
    machine carries (said so beside the figures)."""
    port = free_port()
    receiver = f"http://127.0.0.1:{port}"
    code = f"from bench.bench_events import _serve_slow_receiver; _serve_slow_receiver({port})"
    phases: dict[str, list[dict[str, Any]]] = {"without": [], "with": []}
    with process([sys.executable, "-c", code], {**os.environ, "PYTHONPATH": str(ROOT)}, f"{receiver}/count"):
        for index in range(2 * rounds):
            label = "with" if index % 4 in (1, 2) else "without"  # without, with, with, without, …
            result = _phase(events, db_url, receiver if label == "with" else None, campaign_rate, offered_rate)
            phases[label].append(result)
    with_receiver = {key: median([p[key] for p in phases["with"]]) for key in ("sends_per_s", "p99_ms")}
    without = {key: median([p[key] for p in phases["without"]]) for key in ("sends_per_s", "p99_ms")}
    send_ratio = with_receiver["sends_per_s"] / max(without["sends_per_s"], 1e-9)
    p99_ratio = with_receiver["p99_ms"] / max(without["p99_ms"], 1e-9)
    return {
        "database": "sqlite" if db_url is None else "postgresql", "events": events, "rounds": rounds,
        "campaign_pace": campaign_rate, "offered_events_per_s": offered_rate, "receiver_seconds": SLOW_SECONDS,
        "sends_per_s": with_receiver["sends_per_s"], "baseline_sends_per_s": without["sends_per_s"],
        "send_ratio": round(send_ratio, 3),
        "p99_ms": with_receiver["p99_ms"], "baseline_p99_ms": without["p99_ms"], "p99_ratio": round(p99_ratio, 2),
        "p99_ratio_max": P99_RATIO_MAX, "with": phases["with"], "without": phases["without"],
    }


if __name__ == "__main__":
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000
    db = sys.argv[2] if len(sys.argv) > 2 and sys.argv[2] != "sqlite" else None
    given = [int(a) for a in sys.argv[3:6]]
    rounds, pace, offered = given + [ROUNDS, CAMPAIGN_RATE, OPEN_LOOP_RATE][len(given):]
    print(json.dumps(run(count, db, rounds, pace, offered), indent=2))
