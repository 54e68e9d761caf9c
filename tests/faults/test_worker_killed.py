"""Workers SIGKILLed at random points of a running campaign, again and again, on PostgreSQL with a live
Herald receiving the simulator's webhooks: nothing is sent twice, every message is accounted for, the
counters equal a recount of the rows, and only sends the simulator never accepted stay unknown."""

from __future__ import annotations

import asyncio
import random
import signal
from pathlib import Path

import httpx
import orjson
import pytest
from fastapi import FastAPI

from herald.config import Settings
from herald.dispatch.batch import MAX_BATCH
from herald.kit.db import Database
from herald.simulator import Scenario, SimulatorServer
from tests.conftest import OrgHandle
from tests.dispatch.helpers import done_sending, sim_messages, wait_until
from tests.dispatch.test_crash_and_scale import TEXT_ONLY, seed
from tests.factories import graph_template
from tests.faults.helpers import assert_accounted, settled, start_worker, stop
from tests.live import live_server

pytestmark = [pytest.mark.process, pytest.mark.server, pytest.mark.slow]


@pytest.fixture
def postgres_only(db_url: str) -> None:
    if not db_url.startswith("postgresql"):
        pytest.skip("worker processes sharing a database need PostgreSQL")


async def _accepted_at_least(sim: SimulatorServer, n: int) -> bool:
    return int(httpx.get(f"{sim.base_url}/_sim/health").json()["accepted"]) >= n


async def run_with_kills(
    app: FastAPI, database: Database, org: OrgHandle, settings: Settings, db_url: str, tmp_path: Path,
    *, total: int, kills: int, seed_value: int,
) -> None:
    rng = random.Random(seed_value)
    with live_server(settings) as herald:
        scenario = Scenario.model_validate({
            "templates": [graph_template("hello", components=TEXT_ONLY)], "latency_ms": 20, "seed": seed_value,
            "read_probability": 0.3, "reply_probability": 0,
            "phone_numbers": [{"phone_number_id": "1090001", "waba_id": "2090001", "throughput_mps": 1000}],
        })
        with SimulatorServer(scenario, webhook_url=f"{herald}/webhooks/whatsapp", app_secret="sim-secret") as sim:
            (campaign,) = await seed(app, database, org, sim, n=total, numbers=[("1090001", "2090001")], rate=400)
            step = total // (kills + 2)
            for index in range(kills):
                worker = start_worker(db_url, tmp_path, f"w{index}")
                try:
                    target = step * (index + 1) + rng.randrange(-step // 3, step // 3)
                    await wait_until(lambda t=target: _accepted_at_least(sim, t), timeout=90)
                    await asyncio.sleep(rng.random() * 0.2)
                    worker.send_signal(signal.SIGKILL)
                    worker.wait(timeout=10)
                finally:
                    stop(worker)
            last = start_worker(db_url, tmp_path, "last")
            try:
                await wait_until(lambda: done_sending(database, campaign), timeout=180)
                await wait_until(lambda: settled(database, campaign, sim.base_url), timeout=60)
            finally:
                stop(last)
            assert len(sim_messages(sim.base_url)) <= total
            counts = await assert_accounted(database, campaign, sim.base_url, total=total)
    # Each kill strands what that worker had claimed ahead of its pace (unknown, never resent blindly).
    assert 0 < counts["unknown"] <= kills * 2 * MAX_BATCH, counts
    # The workers logged JSON lines with their id bound.
    # (The last worker may find nothing left to send, so only the first one is sure to log it.)
    for name in ("w0",):
        raw = (tmp_path / f"{name}.log").read_bytes()
        lines = [orjson.loads(line) for line in raw.splitlines() if line.startswith(b"{")]
        assert any(line.get("worker_id") == name and "now sends for number" in line["msg"] for line in lines), raw[-2000:]


class TestWorkerKilledRepeatedly:
    async def test_three_sigkills_lose_and_duplicate_nothing(
        self, postgres_only: None, app: FastAPI, database: Database, org: OrgHandle, settings: Settings,
        db_url: str, tmp_path: Path,
    ) -> None:
        await run_with_kills(app, database, org, settings, db_url, tmp_path, total=4000, kills=3, seed_value=11)

    @pytest.mark.soak
    async def test_many_sigkills_on_a_bigger_campaign(
        self, postgres_only: None, app: FastAPI, database: Database, org: OrgHandle, settings: Settings,
        db_url: str, tmp_path: Path,
    ) -> None:
        await run_with_kills(app, database, org, settings, db_url, tmp_path, total=12000, kills=6, seed_value=23)
