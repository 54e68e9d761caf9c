"""What a number costs its worker when little or nothing is sent: a number sending slowly runs send
loops for its pace, not one per connection of the client; numbers started together do not keep
claiming at the same moments; a slow number claims enough messages at once to be worth a claim; a
campaign that has sent everything due is looked at with a read, not a claim's transaction every
second; and a message that becomes due again (a retry) is still found and sent."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.engine import Engine

from herald.dispatch.batch import MAX_BATCH
from herald.dispatch.sender import (
    CLAIM_AT_LEAST,
    CLAIM_SECONDS,
    CLAIM_SECONDS_AT_MOST,
    CLAIM_SPREAD,
    MIN_SEND_LOOPS,
    PREFETCH_SECONDS,
    SEND_LOOP_SECONDS,
    Sender,
    claim_horizon,
    claim_size,
)
from herald.kit.db import Database
from herald.models import CampaignMessage
from herald.simulator import Scenario, SimulatorServer
from herald.whatsapp import CloudAPIClient
from tests import factories
from tests.conftest import LOOPBACK_ALLOWED, OrgHandle
from tests.dispatch.helpers import done_sending, running_worker, sim_messages, wait_until

TEXT_ONLY = [{"type": "BODY", "text": "Hello {{1}}"}]


class TestSendLoops:
    async def test_a_number_runs_send_loops_for_its_pace_up_to_the_client_connections(self) -> None:
        client = CloudAPIClient(outbound=LOOPBACK_ALLOWED, connection_limit=256)
        sender = Sender(database=None, client=client, box=None, number_id=1)  # type: ignore[arg-type]
        try:
            sender._size_send_loops(9.85)  # 10 msg/s, paced at 98.5 %
            assert len(sender.send_loops) == round(9.85 * SEND_LOOP_SECONDS)  # 20, not 256
            sender._size_send_loops(0.5)  # a slower pace keeps the loops it has, and never goes below the floor
            assert len(sender.send_loops) == round(9.85 * SEND_LOOP_SECONDS) >= MIN_SEND_LOOPS
            sender._size_send_loops(78.8)
            assert len(sender.send_loops) == 158
            sender._size_send_loops(985)  # the top tier: one per connection, as many as can be in flight
            assert len(sender.send_loops) == 256
        finally:
            for _ in sender.send_loops:
                sender.queue.put_nowait(None)
            await asyncio.gather(*sender.send_loops)


def test_numbers_started_together_spread_their_claims_apart() -> None:
    """Twenty numbers start together; each claims again when less than the prefetch of its claimed pace
    is left. With claims all of one size they would claim at the same moments every few seconds (the
    database loop rendering twenty claims at once while the takeoff's flushes wait); spread, four
    claims later they claim over more than a second."""
    rng = random.Random(7)
    claims_at = [0.0] * 20
    for _ in range(4):
        claims_at = [at + claim_horizon(rate=80, windowed=False, rng=rng) - PREFETCH_SECONDS for at in claims_at]
    assert max(claims_at) - min(claims_at) > 1.0
    assert claim_horizon(rate=80, windowed=True) == PREFETCH_SECONDS  # a send window's claims stay short


def test_a_slow_number_claims_enough_messages_at_once_to_be_worth_a_claim() -> None:
    """A claim costs the same statements whatever its size. At 10 msg/s three seconds of pace is 30
    messages, and a hundred such numbers claimed 33 times a second; a slow campaign's claim takes at
    least ``CLAIM_AT_LEAST`` messages when they are at most ``CLAIM_SECONDS_AT_MOST`` of its pace."""
    rng = random.Random(3)
    at_10 = [10 * claim_horizon(rate=10, windowed=False, rng=rng) for _ in range(200)]
    assert min(at_10) >= CLAIM_AT_LEAST * (1 - CLAIM_SPREAD) and max(at_10) <= CLAIM_AT_LEAST * (1 + CLAIM_SPREAD)
    at_1 = [claim_horizon(rate=1, windowed=False, rng=rng) for _ in range(200)]  # not a minute of a slow pace
    assert max(at_1) <= CLAIM_SECONDS_AT_MOST * (1 + CLAIM_SPREAD)
    at_80 = [claim_horizon(rate=80, windowed=False, rng=rng) for _ in range(200)]  # 240 messages: as before
    assert max(at_80) <= CLAIM_SECONDS * (1 + CLAIM_SPREAD)
    assert claim_horizon(rate=10, windowed=True) == PREFETCH_SECONDS


def test_a_claim_never_outlives_half_its_lease() -> None:
    """The reaper takes back the messages of a claim whose lease ran out, a live sender's too: a claim
    holds at most half the lease of its campaign's pace (the tests that kill workers lease for 3 s)."""
    rng = random.Random(5)
    short, usual = timedelta(seconds=3), timedelta(seconds=120)
    assert max(claim_size(5, windowed=False, lease=short, rng=rng) for _ in range(200)) <= 5 * 1.5
    assert max(claim_size(150, windowed=False, lease=short, rng=rng) for _ in range(200)) <= 150 * 1.5
    assert min(claim_size(10, windowed=False, lease=usual, rng=rng) for _ in range(200)) >= CLAIM_AT_LEAST * 0.75
    assert max(claim_size(1000, windowed=False, lease=usual, rng=rng) for _ in range(200)) == MAX_BATCH


@pytest.fixture
def claims_counted() -> Iterator[list[str]]:
    """Every claim the worker makes (a ``send_claims`` row inserted), on any engine, any thread."""
    made: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.lstrip().upper().startswith("INSERT INTO SEND_CLAIMS"):
            made.append(statement)

    event.listen(Engine, "before_cursor_execute", count)
    try:
        yield made
    finally:
        event.remove(Engine, "before_cursor_execute", count)


@pytest.mark.slow
async def test_a_campaign_with_nothing_due_is_not_claimed_and_its_retry_still_leaves(
    database: Database, org: OrgHandle, db_url: str, claims_counted: list[str]
) -> None:
    # A third of the sends fail with a 5xx at first: they are retried 2 s later, by which time the
    # campaign's claims have found nothing due. Without the read, each second brought a claim.
    scenario = Scenario.model_validate({
        "templates": [factories.graph_template("hello", components=TEXT_ONLY)], "seed": 11, "error_rate_5xx": 0.3,
        "read_probability": 0, "reply_probability": 0, "webhooks_enabled": False,
    })
    with SimulatorServer(scenario, webhook_url=None, app_secret="sim-secret") as sim:
        await factories.make_contacts(database, org_id=org.id, specs=[
            {"phone": f"+1415{i:07d}", "name": f"C{i}", "tags": ["t"]} for i in range(12)
        ])
        number_id = await factories.make_number(database, factories.TEST_BOX, org_id=org.id, base_url=sim.base_url)
        await factories.make_template(database, org_id=org.id, name="hello", variables=["1"], header_format=None)
        campaign = await factories.make_active_campaign(
            database, org_id=org.id, number_id=number_id, audience={"tags_any": ["t"]},
            variables={"1": {"source": "contact_name"}}, media_row_id=None, bot_flow_id=None, rate=50,
            template="hello",
        )
        async with running_worker(database, factories.TEST_BOX, database_thread=db_url.startswith("postgresql")):
            await wait_until(lambda: done_sending(database, campaign), timeout=60)
            claims_when_done = len(claims_counted)
            await asyncio.sleep(2.5)  # an active campaign with nothing left to send
            assert len(claims_counted) == claims_when_done
        accepted = sim_messages(sim.base_url)
    assert sorted(m["to"].lstrip("+") for m in accepted) == sorted(f"1415{i:07d}" for i in range(12))  # each once
    async with database.read_session() as session:
        retried = (await session.execute(select(func.max(CampaignMessage.attempts)))).scalar_one()
    assert retried >= 2  # some were retried: found by the read once due, while nothing else was
