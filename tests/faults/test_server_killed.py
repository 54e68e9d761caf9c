"""The server SIGKILLed while the simulator posts webhooks, then started again on the same port: the
simulator's retries bring every status in, and none is stored or applied twice."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from herald.kit.db import Database
from herald.models import WebhookEvent
from herald.simulator import Scenario, SimulatorServer
from tests.conftest import OrgHandle
from tests.dispatch.helpers import done_sending, running_worker, sim_messages, stats, wait_until
from tests.dispatch.test_crash_and_scale import TEXT_ONLY, seed
from tests.factories import graph_template
from tests.faults.helpers import assert_accounted, free_port, rows_by_status, start_server, stop

pytestmark = [pytest.mark.process, pytest.mark.slow]


async def _ready(base: str) -> bool:
    try:
        async with httpx.AsyncClient() as http:
            return (await http.get(f"{base}/readyz", timeout=1)).status_code == 200
    except httpx.HTTPError:
        return False


async def _events(database: Database) -> tuple[int, int]:
    async with database.read_session() as session:
        total = (await session.execute(select(func.count()).select_from(WebhookEvent))).scalar_one()
        keys = (await session.execute(select(func.count(func.distinct(WebhookEvent.dedupe_key))))).scalar_one()
    return int(total), int(keys)


class TestServerKilled:
    async def test_sigkill_while_receiving_webhooks_loses_and_doubles_nothing(
        self, app: FastAPI, database: Database, org: OrgHandle, db_url: str, tmp_path: Path,
    ) -> None:
        total = 1500
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        server = start_server(db_url, tmp_path, "server", port)
        try:
            await wait_until(lambda: _ready(base), timeout=30)
            scenario = Scenario.model_validate({
                "templates": [graph_template("hello", components=TEXT_ONLY)], "seed": 3,
                "read_probability": 0, "reply_probability": 0, "duplicate_probability": 0.05,
                "webhook_retry_base_ms": 100, "webhook_retry_cap_ms": 1000,
                "phone_numbers": [{"phone_number_id": "1090001", "waba_id": "2090001", "throughput_mps": 1000}],
            })
            with SimulatorServer(scenario, webhook_url=f"{base}/webhooks/whatsapp", app_secret="sim-secret") as sim:
                (campaign,) = await seed(app, database, org, sim, n=total, numbers=[("1090001", "2090001")], rate=300)
                # The test's own worker sends and applies; only the receiving server dies.
                async with running_worker(database, app.state.secret_box):
                    await wait_until(lambda: _events_at_least(database, total // 2), timeout=60)
                    server.send_signal(signal.SIGKILL)
                    server.wait(timeout=10)
                    killed_with = (await _events(database))[0]
                    await asyncio.sleep(1.5)  # the simulator keeps posting into a closed port meanwhile
                    server = start_server(db_url, tmp_path, "server", port)
                    await wait_until(lambda: _ready(base), timeout=30)
                    await wait_until(lambda: done_sending(database, campaign), timeout=60)
                    await wait_until(lambda: _all_received(database, campaign, total), timeout=60)
                    sim_stats = httpx.get(f"{sim.base_url}/_sim/stats").json()
                accepted = sim_messages(sim.base_url)
                await assert_accounted(database, campaign, sim.base_url, total=total)
        finally:
            stop(server)
        assert killed_with < 2 * total, "the kill came after every status was in"
        assert len(accepted) == total
        stored, distinct = await _events(database)
        assert stored == distinct == 2 * total  # sent + delivered per message, each stored once
        assert (await rows_by_status(database, campaign)) == {"delivered": total}
        counts = await stats(database, campaign)
        assert counts["sent"] == counts["received"] == total
        assert sim_stats["webhooks"]["failed"] > 0, "no POST hit the dead server: the kill proved nothing"
        assert sim_stats["webhooks"]["duplicates"] > 0  # and the duplicates Meta sends anyway were stored once


async def _events_at_least(database: Database, n: int) -> bool:
    return (await _events(database))[0] >= n


async def _all_received(database: Database, campaign: int, total: int) -> bool:
    counts = await stats(database, campaign)
    stored, _ = await _events(database)
    return counts["received"] == total and stored == 2 * total
