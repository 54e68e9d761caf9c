"""SIGKILL while sending leaves unknown only what was in flight.

A sender claims about half a second of pace ahead (``claimed``) and marks a message ``sending`` a
tick before its request leaves (``dispatch/takeoff.py``). Killed, its ``claimed`` messages go back
to pending and are sent by the next process; its ``sending`` ones become unknown, and those the
simulator did accept are resolved by their status webhooks. What stays unknown is what was marked
and never written: at most a tick of pace per kill. Run as the issue asks: the embedded worker of
``herald serve`` (SQLite by default, and on whichever database the suite runs) and ``herald
worker`` on PostgreSQL, three kills at 150 messages a second on 3,000 contacts and one at 5 a
second; ``make soak`` runs longer campaigns with more kills.
"""

from __future__ import annotations

import asyncio
import random
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from herald.config import Settings
from herald.dispatch.takeoff import MIN_LANE
from herald.kit.db import Database
from herald.simulator import Scenario, SimulatorServer
from tests.conftest import OrgHandle
from tests.dispatch.helpers import done_sending, stats, wait_until
from tests.dispatch.test_crash_and_scale import TEXT_ONLY, seed
from tests.factories import graph_template
from tests.faults.helpers import (
    accepted_by_message,
    assert_accounted,
    free_port,
    herald_env,
    message_status,
    rows_by_status,
    settled,
    start_worker,
    stop,
)
from tests.live import live_server

pytestmark = [pytest.mark.process, pytest.mark.slow]

LATENCY_MS = 50


def start_serve(db_url: str, tmp: Path, port: int) -> subprocess.Popen[bytes]:
    """``herald serve`` with its embedded worker; the same worker id at each start, so a restart takes
    the number back at once instead of after the dead process's number lease runs out."""
    env = herald_env(db_url, tmp / "serve", HERALD_EMBEDDED_WORKER="true", HERALD_SEND_LEASE_SECONDS="3",
                     HERALD_WORKER_ID="serve")
    log = open(tmp / "serve.log", "ab")  # closed with the process
    return subprocess.Popen([sys.executable, "-m", "herald", "serve", "--port", str(port), "--worker"],
                            env=env, stdout=log, stderr=subprocess.STDOUT)


async def _ready(base: str) -> bool:
    try:
        async with httpx.AsyncClient() as http:
            return (await http.get(f"{base}/readyz", timeout=1)).status_code == 200
    except httpx.HTTPError:
        return False


async def _accepted_at_least(sim: SimulatorServer, n: int) -> bool:
    return int(httpx.get(f"{sim.base_url}/_sim/health").json()["accepted"]) >= n


@contextmanager
def receiver(mode: str, settings: Settings, port: int) -> Iterator[str]:
    """Where the simulator posts webhooks: the killed server itself (``serve``), or a live Herald of
    the test's own while ``herald worker`` processes are killed (``worker``)."""
    if mode == "serve":
        yield f"http://127.0.0.1:{port}"
    else:
        with live_server(settings) as url:
            yield url


async def run_with_kills(
    app: FastAPI, database: Database, org: OrgHandle, settings: Settings, db_url: str, tmp_path: Path,
    *, mode: str, total: int, rate: float, kills: int, seed_value: int, sig: int = signal.SIGKILL,
) -> tuple[int, int]:
    """Sends ``total`` messages at ``rate`` with ``kills`` SIGKILLs at random points; returns (how
    many stayed unknown and never reached the simulator, how many the simulator accepted)."""
    rng = random.Random(seed_value)
    port = free_port()
    with receiver(mode, settings, port) as webhooks:
        scenario = Scenario.model_validate({
            "templates": [graph_template("hello", components=TEXT_ONLY)], "latency_ms": LATENCY_MS,
            "seed": seed_value, "read_probability": 0, "reply_probability": 0,
            "webhook_retry_base_ms": 100, "webhook_retry_cap_ms": 1000,
            "phone_numbers": [{"phone_number_id": "1090001", "waba_id": "2090001", "throughput_mps": 1000}],
        })
        with SimulatorServer(scenario, webhook_url=f"{webhooks}/webhooks/whatsapp", app_secret="sim-secret") as sim:
            (campaign,) = await seed(app, database, org, sim, n=total, numbers=[("1090001", "2090001")], rate=rate)

            def start(index: int) -> subprocess.Popen[bytes]:
                return start_serve(db_url, tmp_path, port) if mode == "serve" else start_worker(db_url, tmp_path, f"w{index}")

            step = total // (kills + 1)
            for index in range(kills):
                process = start(index)
                try:
                    target = step * (index + 1) + rng.randrange(-step // 4, step // 4)
                    await wait_until(lambda t=target: _accepted_at_least(sim, t), timeout=120)
                    await asyncio.sleep(rng.random() / rate * 10)  # anywhere in the pace's cycle
                    process.send_signal(sig)
                    process.wait(timeout=15)
                    if sig == signal.SIGTERM:  # stopped in order: what it held is back to pending already
                        held = await rows_by_status(database, campaign)
                        assert not held.get("claimed") and not held.get("sending"), held
                finally:
                    stop(process)
            last = start(kills)
            try:
                if mode == "serve":
                    await wait_until(lambda: _ready(webhooks), timeout=30)
                await wait_until(lambda: done_sending(database, campaign), timeout=180)
                await wait_until(lambda: settled(database, campaign, sim.base_url), timeout=60)
                await wait_until(lambda: all_delivered(database, campaign), timeout=60)
                accepted = accepted_by_message(sim.base_url)  # asserts one send per contact at most
                counts = await assert_accounted(database, campaign, sim.base_url, total=total)
            finally:
                stop(last)
    statuses = await message_status(database, campaign)
    never_received = [i for i, status in statuses.items() if status == "unknown" and i not in accepted]
    # Every other contact was sent exactly once: accepted by the simulator and recorded sent here.
    assert counts["not_sent"] == 0 and counts["sent"] == len(accepted) == total - counts["unknown"], counts
    assert len(never_received) == counts["unknown"], "an unknown the simulator accepted was never resolved"
    return len(never_received), len(accepted)


async def all_delivered(database: Database, campaign: int) -> bool:
    """Every send's delivered status applied too (the simulator delivers each): the counters stop moving."""
    counts = await stats(database, campaign)
    return counts["received"] == counts["sent"]


@pytest.fixture
def postgres_only(db_url: str) -> None:
    if not db_url.startswith("postgresql"):
        pytest.skip("herald worker processes sharing a database need PostgreSQL")


@pytest.fixture
def sqlite_only(db_url: str) -> None:
    if not db_url.startswith("sqlite"):
        pytest.skip("the embedded worker is SQLite's default (herald worker is PostgreSQL's, below)")


def skip_unless_default(mode: str, db_url: str) -> None:
    """Each database with its default worker: the embedded one on SQLite, ``herald worker`` on PostgreSQL."""
    if (mode == "serve") != db_url.startswith("sqlite"):
        pytest.skip("the embedded worker on SQLite, herald worker on PostgreSQL")


class TestKilledWhileSending:
    async def test_embedded_worker_killed_three_times_at_150_per_second(
        self, sqlite_only: None, app: FastAPI, database: Database, org: OrgHandle, settings: Settings,
        db_url: str, tmp_path: Path, record_property: Callable[[str, object], None],
    ) -> None:
        lost, _ = await run_with_kills(app, database, org, settings, db_url, tmp_path,
                                       mode="serve", total=3000, rate=150, kills=3, seed_value=19)
        record_property("never_received", lost)  # the figure quoted in docs (pytest --junitxml)
        assert lost <= 30, f"{lost} contacts of 3,000 left unknown and never messaged (at most 1 %)"

    async def test_herald_worker_killed_three_times_at_150_per_second(
        self, postgres_only: None, app: FastAPI, database: Database, org: OrgHandle, settings: Settings,
        db_url: str, tmp_path: Path, record_property: Callable[[str, object], None],
    ) -> None:
        lost, _ = await run_with_kills(app, database, org, settings, db_url, tmp_path,
                                       mode="worker", total=3000, rate=150, kills=3, seed_value=29)
        record_property("never_received", lost)  # the figure quoted in docs (pytest --junitxml)
        assert lost <= 30, f"{lost} contacts of 3,000 left unknown and never messaged (at most 1 %)"

    @pytest.mark.parametrize("mode", ["serve", "worker"])
    async def test_stopped_with_sigterm_at_150_per_second_leaves_nothing_unknown(
        self, mode: str, app: FastAPI, database: Database, org: OrgHandle, settings: Settings,
        db_url: str, tmp_path: Path,
    ) -> None:
        skip_unless_default(mode, db_url)
        lost, accepted = await run_with_kills(app, database, org, settings, db_url, tmp_path, mode=mode, total=600,
                                              rate=150, kills=2, seed_value=41, sig=signal.SIGTERM)
        assert (lost, accepted) == (0, 600)

    @pytest.mark.parametrize("mode", ["serve", "worker"])
    async def test_killed_once_at_5_per_second(
        self, mode: str, app: FastAPI, database: Database, org: OrgHandle, settings: Settings,
        db_url: str, tmp_path: Path, record_property: Callable[[str, object], None],
    ) -> None:
        skip_unless_default(mode, db_url)
        lost, _ = await run_with_kills(app, database, org, settings, db_url, tmp_path,
                                       mode=mode, total=60, rate=5, kills=1, seed_value=31)
        record_property("never_received", lost)  # the figure quoted in docs (pytest --junitxml)
        # Usually 0 or 1 (the send in flight). A stall of the event loop lets the sends fall behind their
        # slots, and a flush then clears all the overdue ones at once, up to the sender's lane
        # (``MIN_LANE``, dispatch/takeoff.py): 2 were seen under a full suite's load. Claimed straight into
        # ``sending``, a kill would leave the whole claim (40 messages at this pace).
        assert lost <= MIN_LANE, f"{lost} of 60 left unknown and never messaged at 5 a second"

    @pytest.mark.soak
    @pytest.mark.parametrize("mode", ["serve", "worker"])
    async def test_many_kills_on_a_bigger_campaign(
        self, mode: str, app: FastAPI, database: Database, org: OrgHandle, settings: Settings,
        db_url: str, tmp_path: Path, record_property: Callable[[str, object], None],
    ) -> None:
        skip_unless_default(mode, db_url)
        lost, _ = await run_with_kills(app, database, org, settings, db_url, tmp_path,
                                       mode=mode, total=9000, rate=150, kills=8, seed_value=37)
        record_property("never_received", lost)  # the figure quoted in docs (pytest --junitxml)
        assert lost <= 90, f"{lost} contacts of 9,000 left unknown and never messaged (at most 1 %)"
