"""Worker processes on PostgreSQL: a SIGKILL mid-campaign loses and duplicates nothing; two workers
share two numbers without claiming a message twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from herald.config import Settings
from herald.kit.db import Database
from herald.models import CampaignMessage
from herald.simulator import Scenario, SimulatorServer
from tests.conftest import TEST_FERNET_KEY, TEST_SECRET_KEY, OrgHandle
from tests.dispatch.helpers import done_sending, sim_messages, stats, wait_until
from tests.factories import graph_template, make_active_campaign, make_contacts, make_number, make_template
from tests.live import live_server

pytestmark = [pytest.mark.process, pytest.mark.server, pytest.mark.slow]

TEXT_ONLY = [{"type": "BODY", "text": "Hello {{1}}"}]
VARIABLES = {"1": {"source": "contact_name"}}


def start_worker(db_url: str, tmp: Path, name: str) -> subprocess.Popen[bytes]:
    env = {
        **os.environ, "HERALD_DATABASE_URL": db_url, "HERALD_SECRET_KEY": TEST_SECRET_KEY,
        "HERALD_ENCRYPTION_KEYS": TEST_FERNET_KEY, "HERALD_VAR_DIR": str(tmp / name),
        "HERALD_SEND_LEASE_SECONDS": "3", "HERALD_WORKER_ID": name, "HERALD_ALLOW_PRIVATE_URLS": "true",
    }
    log = open(tmp / f"{name}.log", "wb")  # closed with the process
    return subprocess.Popen([sys.executable, "-m", "herald", "worker"], env=env, stdout=log, stderr=subprocess.STDOUT)


def stop(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
    if proc.poll() is None:
        proc.send_signal(sig)
        proc.wait(timeout=30)


@pytest.fixture
def postgres_only(db_url: str) -> None:
    if not db_url.startswith("postgresql"):
        pytest.skip("several worker processes need PostgreSQL")


async def seed(app: FastAPI, database: Database, org: OrgHandle, sim: SimulatorServer, *, n: int,
               numbers: list[tuple[str, str]], rate: float) -> list[int]:
    campaigns = []
    await make_contacts(database, org_id=org.id, specs=[
        {"phone": f"+1415{i:07d}", "name": f"C{i}", "tags": [f"t{i % len(numbers)}"]} for i in range(n)
    ])
    for index, (phone_number_id, waba_id) in enumerate(numbers):
        number = await make_number(database, app.state.secret_box, org_id=org.id, base_url=sim.base_url,
                                   phone_number_id=phone_number_id, waba_id=waba_id, throughput_mps=1000)
        await make_template(database, org_id=org.id, waba_id=waba_id, name="hello", variables=["1"], header_format=None)
        campaigns.append(await make_active_campaign(
            database, org_id=org.id, number_id=number, audience={"tags_any": [f"t{index}"]}, variables=VARIABLES,
            media_row_id=None, bot_flow_id=None, rate=rate, template="hello",
        ))
    return campaigns


class TestWorkerKilled:
    async def test_sigkill_mid_campaign_neither_loses_nor_duplicates(
        self, postgres_only: None, app: FastAPI, database: Database, org: OrgHandle, settings: Settings,
        db_url: str, tmp_path: Path,
    ) -> None:
        total = 5000
        with live_server(settings) as herald:
            scenario = Scenario.model_validate({
                "templates": [graph_template("hello", components=TEXT_ONLY)], "latency_ms": 20, "seed": 5,
                "read_probability": 0, "reply_probability": 0,
                "phone_numbers": [{"phone_number_id": "1090001", "waba_id": "2090001", "throughput_mps": 1000}],
            })
            with SimulatorServer(scenario, webhook_url=f"{herald}/webhooks/whatsapp", app_secret="sim-secret") as sim:
                (campaign,) = await seed(app, database, org, sim, n=total, numbers=[("1090001", "2090001")], rate=400)
                first = start_worker(db_url, tmp_path, "w1")
                try:
                    await wait_until(lambda: _accepted_at_least(sim, 1500), timeout=60)
                    first.send_signal(signal.SIGKILL)
                    first.wait(timeout=10)
                finally:
                    stop(first)
                killed_at = len(sim_messages(sim.base_url))
                second = start_worker(db_url, tmp_path, "w2")
                try:
                    await wait_until(lambda: done_sending(database, campaign), timeout=120)
                    await wait_until(lambda: _settled(database, campaign, sim), timeout=60)
                finally:
                    stop(second)
                accepted = sim_messages(sim.base_url)
        assert killed_at < total
        per_contact = Counter(m["to"] for m in accepted)
        assert max(per_contact.values()) == 1, "a message was sent twice"
        counts = await stats(database, campaign)
        assert counts["targeted"] == total and counts["pending"] == 0
        assert counts["sent"] == len(accepted)
        assert counts["sent"] + counts["unknown"] == total
        await _assert_counters_match_rows(database, campaign, counts)


class TestTwoWorkers:
    async def test_two_workers_two_numbers_share_without_double_claims(
        self, postgres_only: None, app: FastAPI, database: Database, org: OrgHandle, db_url: str, tmp_path: Path,
    ) -> None:
        numbers = [("1090001", "2090001"), ("1090002", "2090002")]
        scenario = Scenario.model_validate({
            "templates": [graph_template("hello", components=TEXT_ONLY)], "latency_ms": 20, "seed": 9,
            "read_probability": 0, "reply_probability": 0,
            "phone_numbers": [{"phone_number_id": p, "waba_id": w, "throughput_mps": 1000} for p, w in numbers],
        })
        with SimulatorServer(scenario, webhook_url=None, app_secret="sim-secret") as sim:
            campaigns = await seed(app, database, org, sim, n=2000, numbers=numbers, rate=200)
            workers = [start_worker(db_url, tmp_path, f"w{i}") for i in (1, 2)]
            try:
                for campaign in campaigns:
                    await wait_until(lambda c=campaign: done_sending(database, c), timeout=90)
            finally:
                for proc in workers:
                    stop(proc)
            accepted = sim_messages(sim.base_url)
        assert len(accepted) == 2000 and max(Counter(m["to"] for m in accepted).values()) == 1
        async with database.read_session() as session:
            attempts = (await session.execute(select(func.max(CampaignMessage.attempts)))).scalar_one()
        assert attempts == 1, "a message was claimed twice"
        logs = [(tmp_path / f"w{i}.log").read_text() for i in (1, 2)]
        assert all(log.count("now sends for number") >= 1 for log in logs), "one worker did all the work"


async def _accepted_at_least(sim: SimulatorServer, n: int) -> bool:
    return len(sim_messages(sim.base_url)) >= n


async def _settled(database: Database, campaign: int, sim: SimulatorServer) -> bool:
    """Every send the simulator accepted has been resolved by its status webhook."""
    counts = await stats(database, campaign)
    return counts["sent"] == len(sim_messages(sim.base_url))


async def _assert_counters_match_rows(database: Database, campaign: int, counts: dict[str, int]) -> None:
    async with database.read_session() as session:
        rows = dict((await session.execute(
            select(CampaignMessage.status, func.count()).where(CampaignMessage.campaign_id == campaign)
            .group_by(CampaignMessage.status)
        )).all())
    assert rows.get("unknown", 0) == counts["unknown"]
    assert sum(rows.get(s, 0) for s in ("sent", "delivered", "read")) == counts["sent"]
