"""SIGTERM while a campaign sends slowly: ``herald serve`` (SQLite, embedded worker) and ``herald
worker`` (PostgreSQL) stop within 10 s at any pace, with exit code 0, and what they had claimed but
not sent goes back to ``pending`` (nothing is left ``sending``)."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import update

from herald.kit.db import Database
from herald.models import Campaign
from herald.simulator import Scenario, SimulatorServer
from tests.conftest import OrgHandle
from tests.dispatch.helpers import sim_messages, wait_until
from tests.dispatch.test_crash_and_scale import TEXT_ONLY, seed
from tests.factories import graph_template
from tests.faults.helpers import free_port, herald_env, rows_by_status, stop

STOPS_WITHIN = 10.0
CONTACTS = 5


def start_herald(db_url: str, tmp: Path, sim_url: str) -> subprocess.Popen[bytes]:
    """``herald serve`` with its embedded worker on SQLite, ``herald worker`` on PostgreSQL."""
    import sys

    if db_url.startswith("sqlite"):
        command = ["serve", "--port", str(free_port()), "--worker"]
        env = herald_env(db_url, tmp / "serve")
    else:
        command = ["worker"]
        env = herald_env(db_url, tmp / "worker", HERALD_WORKER_ID="sigterm")
    log = open(tmp / "herald.log", "wb")  # noqa: SIM115 - closed with the process
    return subprocess.Popen([sys.executable, "-m", "herald", *command], env=env, stdout=log, stderr=subprocess.STDOUT)


async def _accepted_at_least(sim: SimulatorServer, n: int) -> bool:
    return int(httpx.get(f"{sim.base_url}/_sim/health").json()["accepted"]) >= n


@pytest.mark.parametrize(
    "pace", [{"rate_per_second": 0.01}, {"rate_per_second": None, "rate_per_hour": 1}], ids=["36-per-hour", "1-per-hour"]
)
async def test_sigterm_stops_within_10_s_and_releases_claims(
    app: FastAPI, database: Database, org: OrgHandle, db_url: str, tmp_path: Path, pace: dict[str, float | None],
) -> None:
    scenario = Scenario.model_validate({
        "templates": [graph_template("hello", components=TEXT_ONLY)], "seed": 1, "webhooks_enabled": False,
        "phone_numbers": [{"phone_number_id": "1090001", "waba_id": "2090001", "throughput_mps": 1000}],
    })
    with SimulatorServer(scenario, webhook_url=None, app_secret="sim-secret") as sim:
        (campaign,) = await seed(app, database, org, sim, n=CONTACTS, numbers=[("1090001", "2090001")], rate=1)
        async with database.session() as session:
            await session.execute(update(Campaign).where(Campaign.id == campaign).values(**pace))
        herald = start_herald(db_url, tmp_path, sim.base_url)
        try:
            # The first message leaves at once; the next is an hour (or 100 s) away.
            await wait_until(lambda: _accepted_at_least(sim, 1), timeout=60)
            time.sleep(2)  # the dispatcher is now waiting for the next slot
            herald.send_signal(signal.SIGTERM)
            started = time.monotonic()
            try:
                code = herald.wait(timeout=STOPS_WITHIN)
            except subprocess.TimeoutExpired:
                pytest.fail(f"still running {STOPS_WITHIN:g} s after SIGTERM\n" + (tmp_path / "herald.log").read_text()[-3000:])
            took = time.monotonic() - started
        finally:
            stop(herald, signal.SIGKILL)
        assert code == 0, (tmp_path / "herald.log").read_text()[-3000:]
        assert took < STOPS_WITHIN
        sent = len(sim_messages(sim.base_url))
    rows = await rows_by_status(database, campaign)
    assert "sending" not in rows, rows
    assert rows.get("pending", 0) == CONTACTS - sent, rows
