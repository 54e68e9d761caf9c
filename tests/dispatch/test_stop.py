"""Stopping the engine in-process: every wait gives way to the stop, and what was claimed goes back.

The pacing waits run on the fake clock of ``test_pacer``, which never moves here: only the stop can
end them. The rest runs a real worker, job runner and bot-delivery engine on the test database.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest
from aiohttp import web
from fastapi import FastAPI
from sqlalchemy import select, update

from herald.dispatch import pacer as pacer_module
from herald.dispatch.batch import Outgoing
from herald.dispatch.context import CampaignContext, burst_for
from herald.dispatch.outcomes import Retry
from herald.dispatch.pacer import Pacer
from herald.dispatch.sender import Sender
from herald.dispatch.worker import JOB_HANDLERS, Worker
from herald.jobs.runner import run_due_jobs
from herald.kit.db import Database
from herald.kit.stopping import sleep_or_stop
from herald.kit.types import utcnow
from herald.models import BotDelivery, Campaign, Job, NumberLease, WorkerHeartbeat
from herald.replies.delivery import STOP_GRACE_SECONDS, BotDeliveryEngine
from herald.simulator import Scenario, SimulatorServer
from herald.whatsapp.client import CloudAPIClient
from tests.conftest import LOOPBACK_ALLOWED, OrgHandle
from tests.dispatch.helpers import sim_messages, wait_until
from tests.dispatch.test_crash_and_scale import TEXT_ONLY, seed
from tests.dispatch.test_pacer import Clock
from tests.factories import graph_template, make_active_campaign, make_bot_flow, make_contacts, make_number
from tests.faults.helpers import rows_by_status

_real_sleep = asyncio.sleep
STOPS_WITHIN = 10.0


@pytest.fixture
def frozen_clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """The pacers' clock and ``asyncio.sleep`` on a fake clock that the test does not move."""
    clock = Clock()
    monkeypatch.setattr(pacer_module, "monotonic", clock)

    async def sleep_on_fake_clock(seconds: float) -> None:
        due = clock.now + seconds
        while clock.now < due:
            await _real_sleep(0.001)

    monkeypatch.setattr(asyncio, "sleep", sleep_on_fake_clock)
    return clock


def _dispatcher_at(rate: float) -> tuple[Sender, CampaignContext]:
    dispatcher = Sender(database=None, client=CloudAPIClient(outbound=LOOPBACK_ALLOWED), box=None, number_id=1)  # type: ignore[arg-type]
    ctx = CampaignContext(id=1, org_id=1, rate=rate, template_name="t", language="en", variables={}, header=None,
                          pacer=Pacer(rate, burst=burst_for(rate)))
    return dispatcher, ctx


class TestStopAwareWaits:
    async def test_sleep_or_stop_ends_when_stop_is_set(self, frozen_clock: Clock) -> None:
        stop = asyncio.Event()
        sleeper = asyncio.create_task(sleep_or_stop(stop, 3600))
        await _real_sleep(0.01)
        assert not sleeper.done()
        stop.set()
        assert await asyncio.wait_for(sleeper, timeout=1) is True

    async def test_sleep_or_stop_sleeps_its_time_without_a_stop(self, frozen_clock: Clock) -> None:
        stop = asyncio.Event()
        sleeper = asyncio.create_task(sleep_or_stop(stop, 30))
        await _real_sleep(0.01)
        assert not sleeper.done()
        frozen_clock.now += 30
        assert await asyncio.wait_for(sleeper, timeout=1) is False

    async def test_one_stop_wakes_every_sleeper_and_a_cancel_stays_a_cancel(self, frozen_clock: Clock) -> None:
        """Sleepers share one watcher of ``stop``: setting it wakes them all with True, while a task
        cancelled for another reason (its caller gave up) still ends cancelled, stop or no stop."""
        stop = asyncio.Event()
        sleepers = [asyncio.create_task(sleep_or_stop(stop, 3600)) for _ in range(50)]
        cancelled = asyncio.create_task(sleep_or_stop(stop, 3600))
        await _real_sleep(0.01)
        cancelled.cancel()
        with pytest.raises(asyncio.CancelledError):
            await cancelled
        assert not any(s.done() for s in sleepers)
        stop.set()
        assert await asyncio.wait_for(asyncio.gather(*sleepers), timeout=1) == [True] * 50
        # Cleared and used again: a new watcher serves the next sleep.
        stop.clear()
        again = asyncio.create_task(sleep_or_stop(stop, 3600))
        await _real_sleep(0.01)
        stop.set()
        assert await asyncio.wait_for(again, timeout=1) is True

    async def test_a_sender_waiting_for_its_slot_stops_with_the_dispatcher(self, frozen_clock: Clock) -> None:
        dispatcher, ctx = _dispatcher_at(0.25)
        ctx.pacer.reserve()  # the previous send took the slot now: the next one is 4 s away
        waiting = asyncio.create_task(dispatcher.wait_turn(ctx))
        await _real_sleep(0.01)
        assert not waiting.done()
        dispatcher.stop.set()
        assert await asyncio.wait_for(waiting, timeout=1) is None  # no slot: the message is released

    async def test_a_message_whose_slot_is_far_away_goes_back_to_pending_until_then(self, frozen_clock: Clock) -> None:
        """At 36 contacts an hour the next slot is 100 s away: a queued message does not hold its
        claim (its lease) that long, it is retried at its slot, its attempt not counted."""
        dispatcher, ctx = _dispatcher_at(36 / 3600)
        dispatcher.creds = object()  # type: ignore[assignment]
        ctx.pacer.reserve()
        before = utcnow()
        outcome, _ = await asyncio.wait_for(dispatcher._send_one(ctx, Outgoing(7, 1, 1, b"{}")), timeout=1)
        assert isinstance(outcome, Retry) and outcome.message_id == 7 and outcome.refund_attempt
        assert timedelta(seconds=95) < outcome.at - before < timedelta(seconds=105)
        assert ctx.pacer.backlog_seconds() == pytest.approx(100)  # the slot is still the next one


def _scenario() -> Scenario:
    return Scenario.model_validate({
        "templates": [graph_template("hello", components=TEXT_ONLY)], "seed": 1, "webhooks_enabled": False,
        "phone_numbers": [{"phone_number_id": "1090001", "waba_id": "2090001", "throughput_mps": 1000}],
    })


async def _accepted(sim: SimulatorServer, n: int) -> bool:
    return int(httpx.get(f"{sim.base_url}/_sim/health").json()["accepted"]) >= n


@pytest.mark.slow
class TestWorkerStops:
    @pytest.mark.parametrize("pace", [{"rate_per_second": 0.01}, {"rate_per_second": None, "rate_per_hour": 1}],
                             ids=["36-per-hour", "1-per-hour"])
    async def test_a_slow_campaign_holds_nothing_and_the_stop_releases_the_numbers(
        self, app: FastAPI, database: Database, org: OrgHandle, pace: dict[str, float | None],
    ) -> None:
        with SimulatorServer(_scenario(), webhook_url=None, app_secret="sim-secret") as sim:
            (campaign,) = await seed(app, database, org, sim, n=5, numbers=[("1090001", "2090001")], rate=1)
            async with database.session() as session:
                await session.execute(update(Campaign).where(Campaign.id == campaign).values(**pace))
            stop = asyncio.Event()
            worker = Worker(database=database, box=app.state.secret_box, outbound=LOOPBACK_ALLOWED, worker_id="slow")
            task = asyncio.create_task(worker.run(stop))
            try:
                await wait_until(lambda: _accepted(sim, 1), timeout=30)
                await asyncio.sleep(2)  # several claim rounds while the next slot is far away
                # Waiting for its next slot, the campaign holds no message in `sending`.
                assert await rows_by_status(database, campaign) == {"sent": 1, "pending": 4}
                async with database.read_session() as session:
                    assert (await session.execute(select(NumberLease.owner))).scalars().all() == ["slow"]
            finally:
                stop.set()
                started = time.monotonic()
                await asyncio.wait_for(task, timeout=30)
            assert time.monotonic() - started < STOPS_WITHIN
            assert len(sim_messages(sim.base_url)) == 1
        assert await rows_by_status(database, campaign) == {"sent": 1, "pending": 4}
        async with database.read_session() as session:
            # The number is free for another worker at once, and this one no longer counts as alive.
            assert (await session.execute(select(NumberLease))).scalars().all() == []
            assert (await session.execute(select(WorkerHeartbeat.worker_id))).scalars().all() == []


class TestJobsStop:
    async def test_a_job_the_stop_kept_from_running_goes_back_to_pending(
        self, app: FastAPI, database: Database, org: OrgHandle,
    ) -> None:
        number = await make_number(database, app.state.secret_box, org_id=org.id, base_url="http://127.0.0.1:9")
        await make_contacts(database, org_id=org.id, specs=[{"phone": f"+1415555{4000 + i}", "tags": ["x"]} for i in range(3)])
        campaign = await make_active_campaign(database, org_id=org.id, number_id=number, audience={"tags_any": ["x"]},
                                              variables={}, media_row_id=None, bot_flow_id=None)
        stop = asyncio.Event()
        stop.set()
        assert await run_due_jobs(database, JOB_HANDLERS, stop=stop) == 0
        async with database.read_session() as session:
            job = (await session.execute(select(Job))).scalar_one()
            assert (job.status, job.attempts, job.lease_until) == ("pending", 0, None)
            assert (await session.get(Campaign, campaign)).materialized_at is None  # type: ignore[union-attr]
        # The next run (another worker, or this one started again) does it.
        assert await run_due_jobs(database, JOB_HANDLERS) == 1
        assert await rows_by_status(database, campaign) == {"pending": 3}


@pytest.fixture
async def stalled_bot() -> AsyncIterator[tuple[str, asyncio.Event]]:
    """A bot flow that takes every POST and never answers; ``arrived`` is set at the first."""
    arrived = asyncio.Event()

    async def hang(request: web.Request) -> web.Response:
        arrived.set()
        await _real_sleep(3600)
        return web.Response()

    application = web.Application()
    application.router.add_post("/bot", hang)
    runner = web.AppRunner(application, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield f"http://127.0.0.1:{port}/bot", arrived
    await runner.cleanup()


@pytest.mark.slow
class TestBotDeliveriesStop:
    async def test_a_post_the_bot_never_answers_is_cut_short_and_released(
        self, app: FastAPI, database: Database, org: OrgHandle, stalled_bot: tuple[str, asyncio.Event],
    ) -> None:
        url, arrived = stalled_bot
        box = app.state.secret_box
        number = await make_number(database, box, org_id=org.id, base_url="http://127.0.0.1:9")
        flow = await make_bot_flow(database, box, org_id=org.id, url=url)
        (contact,) = await make_contacts(database, org_id=org.id, specs=[{"phone": "+14155554100"}])
        campaign = await make_active_campaign(database, org_id=org.id, number_id=number, audience={"tags_any": ["x"]},
                                              variables={}, media_row_id=None, bot_flow_id=flow)
        async with database.session() as session:
            session.add(BotDelivery(
                org_id=org.id, bot_flow_id=flow, campaign_id=campaign, contact_id=contact, delivery_id="d-1",
                body="{}", status="pending", attempts=0, next_attempt_at=utcnow(),
            ))
        stop = asyncio.Event()
        # The HTTP timeout is longer than the whole stop may take.
        engine = BotDeliveryEngine(database=database, box=box, outbound=LOOPBACK_ALLOWED)
        task = asyncio.create_task(engine.run(stop))
        await asyncio.wait_for(arrived.wait(), timeout=10)
        stop.set()
        started = time.monotonic()
        await asyncio.wait_for(task, timeout=30)
        assert time.monotonic() - started < STOP_GRACE_SECONDS + 2
        async with database.read_session() as session:
            delivery = (await session.execute(select(BotDelivery))).scalar_one()
        # Due again at once for the next worker, the cut attempt not counted.
        assert (delivery.status, delivery.attempts, delivery.lease_until) == ("pending", 0, None)
