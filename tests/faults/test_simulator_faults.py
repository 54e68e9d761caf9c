"""WhatsApp misbehaving: 5xx answers, timeouts (hanging past the client's timeout, or slow errors under it)
and a burst of 130429 when the number's real throughput drops mid-run. Back-off works, the campaign
finishes, nothing is sent twice, and nothing the simulator accepted is marked not sent."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp
import httpx
import pytest
from fastapi import FastAPI

from herald.config import Settings
from herald.dispatch.worker import Worker
from herald.kit.crypto import SecretBox
from herald.kit.db import Database
from herald.ops.metrics import REGISTRY
from herald.simulator import Scenario, SimulatorServer
from herald.whatsapp import CloudAPIClient
from tests.conftest import LOOPBACK_ALLOWED, OrgHandle
from tests.dispatch.helpers import done_sending, wait_until
from tests.dispatch.test_crash_and_scale import TEXT_ONLY, seed
from tests.factories import graph_template
from tests.faults.helpers import assert_accounted, settled
from tests.live import live_server

pytestmark = [pytest.mark.server, pytest.mark.slow]

CLIENT_TIMEOUT = 1.0
NUMBER = {"phone_number_id": "1090001", "waba_id": "2090001"}


@asynccontextmanager
async def worker_with_timeout(database: Database, box: SecretBox) -> AsyncIterator[None]:
    stop = asyncio.Event()
    async with CloudAPIClient(outbound=LOOPBACK_ALLOWED, timeout=aiohttp.ClientTimeout(total=CLIENT_TIMEOUT)) as client:
        task = asyncio.create_task(Worker(database=database, box=box, outbound=LOOPBACK_ALLOWED, client=client).run(stop))
        try:
            yield
        finally:
            stop.set()
            await asyncio.wait_for(task, timeout=30)


def errors(code: str) -> float:
    return sum(
        s.value for m in REGISTRY.collect() if m.name == "herald_send_errors"
        for s in m.samples if s.name.endswith("_total") and s.labels.get("code") == code
    )


# Slow errors under the client's timeout answer 131000 without accepting: an accepted send answered
# with an error would be retried (the simulator's timeout_accept_probability models lost answers).
@pytest.mark.parametrize(("hang_ms", "accept"), [
    pytest.param(1500, 0.5, id="hang-past-timeout"),
    pytest.param(300, 0.0, id="slow-errors", marks=pytest.mark.soak),
])
async def test_5xx_timeouts_and_a_throttling_burst(
    app: FastAPI, database: Database, org: OrgHandle, settings: Settings, hang_ms: float, accept: float,
) -> None:
    total = 250
    before = {code: errors(code) for code in ("131000", "130429", "network")}
    with live_server(settings) as herald:
        scenario = Scenario.model_validate({
            "templates": [graph_template("hello", components=TEXT_ONLY)], "seed": 17, "latency_ms": 5,
            "read_probability": 0, "reply_probability": 0,
            "error_rate_5xx": 0.3, "timeout_probability": 0.1, "timeout_hang_ms": hang_ms,
            "timeout_accept_probability": accept,
            "phone_numbers": [{**NUMBER, "throughput_mps": 1000}],
        })
        with SimulatorServer(scenario, webhook_url=f"{herald}/webhooks/whatsapp", app_secret="sim-secret") as sim:
            (campaign,) = await seed(app, database, org, sim, n=total, numbers=[("1090001", "2090001")], rate=100)
            async with worker_with_timeout(database, app.state.secret_box):
                await wait_until(lambda: _accepted_at_least(sim.base_url, 100), timeout=30)
                # The number's real limit drops far under our pace for two seconds: a burst of 130429.
                httpx.post(f"{sim.base_url}/_sim/scenario?merge=1", json={"phone_numbers": [{**NUMBER, "throughput_mps": 10}]})
                await asyncio.sleep(2)
                httpx.post(f"{sim.base_url}/_sim/scenario?merge=1", json={"phone_numbers": [{**NUMBER, "throughput_mps": 1000}]})
                await wait_until(lambda: done_sending(database, campaign), timeout=120)
                await wait_until(lambda: settled(database, campaign, sim.base_url), timeout=30)
            counts = await assert_accounted(database, campaign, sim.base_url, total=total)
    # Unknown: only sends whose answer never came (the client timed out), and of those only the ones the
    # simulator never accepted (``assert_accounted``): never resent blindly. Not sent: the few whose
    # bounded retries all failed. Everything else went out once. (How many are unknown is the seeded
    # scenario's draw, 33-37 of 250 here: a bound on it would test the seed, not the engine.)
    timeouts = errors("network") - before["network"]
    assert counts["not_sent"] <= total * 0.02 and counts["unknown"] <= timeouts, (counts, timeouts)
    assert errors("131000") > before["131000"] and errors("130429") > before["130429"]
    if hang_ms > CLIENT_TIMEOUT * 1000:
        assert errors("network") > before["network"]  # the client timed out: outcome unknown, never resent


async def _accepted_at_least(base_url: str, n: int) -> bool:
    return int(httpx.get(f"{base_url}/_sim/health").json()["accepted"]) >= n
