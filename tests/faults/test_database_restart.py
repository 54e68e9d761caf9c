"""PostgreSQL stopped and started during a campaign: the worker process and the server reconnect and
carry on without operator action, and nothing is sent twice. Soak: it restarts the shared cluster."""

from __future__ import annotations

import asyncio
import os
import subprocess
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from herald.config import Settings
from herald.kit.db import Database
from herald.simulator import Scenario, SimulatorServer
from tests.conftest import OrgHandle
from tests.dispatch.helpers import done_sending, wait_until
from tests.dispatch.test_crash_and_scale import TEXT_ONLY, seed
from tests.factories import graph_template
from tests.faults.helpers import assert_accounted, settled, start_worker, stop
from tests.live import live_server

pytestmark = [pytest.mark.process, pytest.mark.server, pytest.mark.slow]


def pg_ctl(action: str) -> None:
    version = sorted(os.listdir("/etc/postgresql"))[-1]
    subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", action], check=True, timeout=120)


async def _accepted_at_least(base_url: str, n: int) -> bool:
    return int(httpx.get(f"{base_url}/_sim/health").json()["accepted"]) >= n


async def _alive(database: Database) -> bool:
    try:
        return await done_sending(database, 0) or True
    except Exception:  # still down
        return False


@pytest.mark.soak
async def test_postgres_restart_mid_campaign(
    app: FastAPI, database: Database, org: OrgHandle, settings: Settings, db_url: str, tmp_path: Path,
) -> None:
    if not db_url.startswith("postgresql") or not Path("/etc/postgresql").is_dir():  # noqa: ASYNC240
        pytest.skip("needs a local PostgreSQL cluster managed by pg_ctlcluster")
    total = 6000
    with live_server(settings) as herald:
        scenario = Scenario.model_validate({
            "templates": [graph_template("hello", components=TEXT_ONLY)], "seed": 31, "latency_ms": 20,
            "read_probability": 0.2, "reply_probability": 0, "webhook_retry_cap_ms": 2000,
            "phone_numbers": [{"phone_number_id": "1090001", "waba_id": "2090001", "throughput_mps": 1000}],
        })
        with SimulatorServer(scenario, webhook_url=f"{herald}/webhooks/whatsapp", app_secret="sim-secret") as sim:
            (campaign,) = await seed(app, database, org, sim, n=total, numbers=[("1090001", "2090001")], rate=300)
            worker = start_worker(db_url, tmp_path, "w1")
            try:
                await wait_until(lambda: _accepted_at_least(sim.base_url, total // 4), timeout=60)
                pg_ctl("stop")
                await asyncio.sleep(3)
                pg_ctl("start")
                await wait_until(lambda: _alive(database), timeout=60, every=0.5)
                assert worker.poll() is None, "the worker died with the database"
                await wait_until(lambda: done_sending(database, campaign), timeout=240)
                await wait_until(lambda: settled(database, campaign, sim.base_url), timeout=120)
            finally:
                stop(worker)
            counts = await assert_accounted(database, campaign, sim.base_url, total=total)
    assert counts["sent"] > total // 2, counts
