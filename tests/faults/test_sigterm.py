"""SIGTERM while a campaign sends slowly: ``herald serve`` (SQLite, embedded worker) and ``herald
worker`` (PostgreSQL) stop within 10 s at any pace, with exit code 0, and what they had claimed but
not sent goes back to ``pending`` (nothing is left ``claimed`` or ``sending``)."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select, update

from herald.kit.db import Database
from herald.models import Campaign, NumberLease
from herald.simulator import Scenario, SimulatorServer
from tests.conftest import OrgHandle
from tests.dispatch.helpers import sim_messages, wait_until
from tests.dispatch.test_crash_and_scale import TEXT_ONLY, seed
from tests.factories import graph_template
from tests.faults.helpers import free_port, herald_env, rows_by_status, stop

pytestmark = [pytest.mark.process, pytest.mark.slow]

STOPS_WITHIN = 10.0
CONTACTS = 5
PACES = [{"rate_per_second": 0.01}, {"rate_per_second": None, "rate_per_hour": 1}]


def start_herald(db_url: str, tmp: Path, port: int) -> subprocess.Popen[bytes]:
    """``herald serve`` with its embedded worker on SQLite, ``herald worker`` on PostgreSQL."""
    if db_url.startswith("sqlite"):
        command = ["serve", "--port", str(port), "--worker"]
        env = herald_env(db_url, tmp / "serve")
    else:
        command = ["worker"]
        env = herald_env(db_url, tmp / "worker", HERALD_WORKER_ID="sigterm")
    log = open(tmp / "herald.log", "wb")  # closed with the process
    return subprocess.Popen([sys.executable, "-m", "herald", *command], env=env, stdout=log, stderr=subprocess.STDOUT)


def _scenario() -> Scenario:
    return Scenario.model_validate({
        "templates": [graph_template("hello", components=TEXT_ONLY)], "seed": 1, "webhooks_enabled": False,
        "phone_numbers": [{"phone_number_id": "1090001", "waba_id": "2090001", "throughput_mps": 1000}],
    })


async def _accepted_at_least(sim: SimulatorServer, n: int) -> bool:
    return int(httpx.get(f"{sim.base_url}/_sim/health").json()["accepted"]) >= n


async def _slow_campaign(app: FastAPI, database: Database, org: OrgHandle, sim: SimulatorServer,
                         pace: dict[str, float | None]) -> int:
    (campaign,) = await seed(app, database, org, sim, n=CONTACTS, numbers=[("1090001", "2090001")], rate=1)
    async with database.session() as session:
        await session.execute(update(Campaign).where(Campaign.id == campaign).values(**pace))
    return campaign


async def _terminate(herald: subprocess.Popen[bytes], tmp: Path) -> None:
    """SIGTERM; asserts the exit within 10 s with code 0."""
    herald.send_signal(signal.SIGTERM)
    started = time.monotonic()
    try:
        code = await asyncio.to_thread(herald.wait, STOPS_WITHIN)
    except subprocess.TimeoutExpired:
        pytest.fail(f"still running {STOPS_WITHIN:g} s after SIGTERM\n" + (tmp / "herald.log").read_text()[-3000:])
    assert time.monotonic() - started < STOPS_WITHIN
    assert code == 0, (tmp / "herald.log").read_text()[-3000:]


async def _assert_released(database: Database, campaign: int, sent: int) -> None:
    assert sent == 1  # the first message left at once; the next slot was 100 s (or an hour) away
    assert await rows_by_status(database, campaign) == {"sent": 1, "pending": CONTACTS - 1}
    async with database.read_session() as session:
        assert (await session.execute(select(NumberLease))).scalars().all() == []


@pytest.mark.parametrize("pace", PACES, ids=["36-per-hour", "1-per-hour"])
async def test_sigterm_stops_within_10_s_and_releases_claims(
    app: FastAPI, database: Database, org: OrgHandle, db_url: str, tmp_path: Path, pace: dict[str, float | None],
) -> None:
    with SimulatorServer(_scenario(), webhook_url=None, app_secret="sim-secret") as sim:
        campaign = await _slow_campaign(app, database, org, sim, pace)
        herald = start_herald(db_url, tmp_path, free_port())
        try:
            await wait_until(lambda: _accepted_at_least(sim, 1), timeout=60)
            await asyncio.sleep(2)  # the dispatcher is now waiting for the next slot
            await _terminate(herald, tmp_path)
        finally:
            stop(herald, signal.SIGKILL)
        await _assert_released(database, campaign, len(sim_messages(sim.base_url)))


async def test_herald_serve_watched_live_stops_within_10_s(
    app: FastAPI, database: Database, org: OrgHandle, db_url: str, tmp_path: Path,
) -> None:
    """An admin watching the slow campaign's live stats (an open event stream) does not hold the stop."""
    if not db_url.startswith("sqlite"):
        pytest.skip("herald serve's embedded worker runs on SQLite")
    port = free_port()
    with SimulatorServer(_scenario(), webhook_url=None, app_secret="sim-secret") as sim:
        campaign = await _slow_campaign(app, database, org, sim, PACES[0])
        herald = start_herald(db_url, tmp_path, port)
        try:
            await wait_until(lambda: _accepted_at_least(sim, 1), timeout=60)
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
                events = f"/api/v1/campaigns/{campaign}/events"
                async with http.stream("GET", events, headers=org.auth) as stream:
                    assert stream.status_code == 200
                    await _terminate(herald, tmp_path)
        finally:
            stop(herald, signal.SIGKILL)
        await _assert_released(database, campaign, len(sim_messages(sim.base_url)))
