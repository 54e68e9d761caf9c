"""What a worker's senders re-read about their numbers, read once for all of them (``dispatch/roster.py``),
and the number leases renewed in one statement (``dispatch/leases.py``): the per-number costs that
kept a worker from driving many numbers at once (docs/scaling.md, "Many numbers on one worker")."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from sqlalchemy import event, update

from herald.dispatch import leases
from herald.dispatch.database_loop import DatabaseWork
from herald.dispatch.roster import Roster
from herald.kit.db import Database
from herald.kit.types import utcnow
from herald.models import Campaign, WhatsAppNumber
from tests.conftest import OrgHandle
from tests.factories import TEST_BOX, make_active_campaign, make_number, make_template

VARIABLES = {"1": {"source": "contact_name"}, "2": {"source": "text", "value": "X1"}, "3": {"source": "text", "value": "5%"}}


@contextmanager
def counting_selects(database: Database) -> Iterator[list[str]]:
    """The SELECT statements the read engine runs meanwhile."""
    seen: list[str] = []

    def before(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            seen.append(statement)

    engine = database.read_engine.sync_engine
    event.listen(engine, "before_cursor_execute", before)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", before)


async def numbers_with_campaigns(database: Database, org: OrgHandle, count: int) -> list[int]:
    await make_template(database, org_id=org.id, header_format=None)
    numbers = []
    for i in range(count):
        number_id = await make_number(database, org_id=org.id, phone_number_id=str(1_090_001 + i), base_url="http://x")
        await make_active_campaign(database, org_id=org.id, number_id=number_id, audience=None, variables=VARIABLES,
                                   media_row_id=None, bot_flow_id=None, name=f"C{i}")
        numbers.append(number_id)
    return numbers


async def read_by_senders(roster: Roster, numbers: list[int]) -> list[Any]:
    """Every sender asks for its view at once, as the worker's senders do twice a second."""
    return await asyncio.gather(*(roster.view(number_id) for number_id in numbers))


async def test_one_read_serves_every_sender_whatever_the_number_of_numbers(database: Database, org: OrgHandle) -> None:
    numbers = await numbers_with_campaigns(database, org, 12)
    few = Roster(DatabaseWork(database), TEST_BOX, max_age=60)
    with counting_selects(database) as selects:
        views = await read_by_senders(few, numbers[:2])
    for_two = len(selects)
    many = Roster(DatabaseWork(database), TEST_BOX, max_age=60)
    for number_id in numbers:
        many.join(number_id)
    with counting_selects(database) as selects:
        views = await read_by_senders(many, numbers)
    assert len(selects) == for_two  # twelve numbers cost what two did: no query per number
    assert [view.creds.phone_number_id for view in views if view.creds] == [str(1_090_001 + i) for i in range(12)]
    assert all(len(view.campaigns) == 1 and view.campaigns[0][1] is not None for view in views)  # with its template
    with counting_selects(database) as selects:
        await read_by_senders(many, numbers)
    assert selects == []  # within max_age: the last read


async def test_a_paused_campaign_leaves_the_next_read_and_a_new_token_is_used(database: Database, org: OrgHandle) -> None:
    (number_id,) = await numbers_with_campaigns(database, org, 1)
    roster = Roster(DatabaseWork(database), TEST_BOX, max_age=0.0)
    view = await roster.view(number_id)
    assert view is not None and view.creds is not None and view.creds.access_token == "sim-token"
    async with database.session() as session:
        await session.execute(update(Campaign).values(status="paused"))
        await session.execute(update(WhatsAppNumber).values(access_token_enc=TEST_BOX.encrypt("rotated-token")))
    view = await roster.view(number_id)
    assert view is not None and view.creds is not None
    assert view.campaigns == []
    assert view.creds.access_token == "rotated-token"


async def test_a_fresh_view_is_read_after_the_call(database: Database, org: OrgHandle) -> None:
    (number_id,) = await numbers_with_campaigns(database, org, 1)
    roster = Roster(DatabaseWork(database), TEST_BOX, max_age=60)
    assert len((await roster.view(number_id)).campaigns) == 1  # type: ignore[union-attr]
    async with database.session() as session:
        await session.execute(update(Campaign).values(status="paused"))
    assert len((await roster.view(number_id)).campaigns) == 1  # type: ignore[union-attr]  # still the last read
    assert (await roster.view(number_id, fresh=True)).campaigns == []  # type: ignore[union-attr]


async def test_after_a_change_every_view_is_read_after_it(database: Database, org: OrgHandle) -> None:
    numbers = await numbers_with_campaigns(database, org, 2)
    roster = Roster(DatabaseWork(database), TEST_BOX, max_age=60)
    await read_by_senders(roster, numbers)
    async with database.session() as session:
        await session.execute(update(Campaign).values(status="paused"))
    roster.changed()  # the pause committed in this process
    with counting_selects(database) as selects:
        views = await read_by_senders(roster, numbers)
    assert [view.campaigns for view in views] == [[], []]  # no fresh=True asked: the change made it so
    assert selects  # one read for both
    with counting_selects(database) as selects:
        await read_by_senders(roster, numbers)
    assert selects == []  # then the last read again, within max_age


async def test_a_deleted_number_has_no_view(database: Database, org: OrgHandle) -> None:
    roster = Roster(DatabaseWork(database), TEST_BOX, max_age=60)
    assert await roster.view(424242) is None


async def test_leases_are_taken_renewed_and_refused_in_one_statement(database: Database, org: OrgHandle) -> None:
    numbers = await numbers_with_campaigns(database, org, 4)
    now = utcnow()
    async with database.session() as session:
        assert await leases.try_leases(session, number_ids=numbers[:3], worker_id="a", now=now) == set(numbers[:3])
    async with database.session() as session:  # b gets only the free one
        assert await leases.try_leases(session, number_ids=numbers, worker_id="b", now=now) == {numbers[3]}
    async with database.session() as session:  # a renews its own
        assert await leases.try_leases(session, number_ids=numbers[:3], worker_id="a", now=now) == set(numbers[:3])
    later = now + leases.NUMBER_LEASE + timedelta(seconds=1)
    async with database.session() as session:  # a stopped renewing: b takes them over once they ran out
        assert await leases.try_leases(session, number_ids=numbers, worker_id="b", now=later) == set(numbers)
