"""An outbox row is a batch: a recording round's events for one endpoint (200 at most). A POST
takes the oldest rows that fit in 200 events, in order; at least once across a failed POST and a
worker that died; the delivery log lists batches and finds an event's; migration 0020 keeps the
rows written before."""

from __future__ import annotations

import asyncio

import httpx
from alembic import command
from fastapi import FastAPI
from sqlalchemy import select, text

from herald.events import claim
from herald.events.claim import BATCH_MAX_EVENTS, ENDPOINT_LEASE
from herald.events.outbox import NewEvent, record_events
from herald.events.types import EventType
from herald.kit import migrate
from herald.kit.db import Database
from herald.models import EventOutbox
from tests.conftest import OrgHandle
from tests.events.receiver import EventReceiver
from tests.events.stored import events_of
from tests.events.test_delivery import ENDPOINTS, FakeClock, add_endpoint, deliverer, outbox_rows, send_test

OPTED_OUT = EventType.contact_opted_out.value


async def record_rounds(database: Database, org_id: int, sizes: list[int], *, endpoints: int = 1) -> None:
    """One ``record_events`` call (one transaction) per size; the events' contact ids count up from 0."""
    first = 0
    for size in sizes:
        async with database.session() as session:
            events = [NewEvent(org_id, OPTED_OUT, {"contact_id": first + i}) for i in range(size)]
            assert await record_events(session, events) == size * endpoints  # once per endpoint
        first += size


def contacts_received(receiver: EventReceiver) -> list[list[int]]:
    """Each POST's events, as the contact ids recorded in them, in the order received."""
    return [[receiver.events[event_id]["data"]["contact_id"] for event_id in body] for body in receiver.bodies]


class TestRecording:
    async def test_a_round_is_one_row_per_endpoint_and_a_big_round_several(
        self, client: httpx.AsyncClient, database: Database, org: OrgHandle, receiver: EventReceiver
    ) -> None:
        one = await add_endpoint(client, org, receiver.url, types=[OPTED_OUT])
        two = await add_endpoint(client, org, receiver.url + "/two", types=[OPTED_OUT, "campaign.started"])
        await record_rounds(database, org.id, [450], endpoints=2)
        rows = await outbox_rows(database)
        assert sorted((r.endpoint_id, r.event_count) for r in rows) == sorted(
            (endpoint, count) for endpoint in (one, two) for count in (200, 200, 50))
        for endpoint in (one, two):
            mine = [r for r in rows if r.endpoint_id == endpoint]
            events = [e for r in mine for e in events_of(r.payload)]
            assert [e["data"]["contact_id"] for e in events] == list(range(450))
            assert all((r.event_id, r.last_event_id) == (events_of(r.payload)[0]["id"], events_of(r.payload)[-1]["id"])
                       for r in mine)
            assert {r.event_types for r in mine} == {OPTED_OUT}
        ids = {e["id"] for r in rows for e in events_of(r.payload)}
        assert len(ids) == 450  # an event has one id, the same for every endpoint


class TestBatching:
    async def test_many_small_rounds_go_in_posts_of_at_most_200_events_in_order(
        self, app: FastAPI, client: httpx.AsyncClient, database: Database, org: OrgHandle, receiver: EventReceiver
    ) -> None:
        await add_endpoint(client, org, receiver.url, types=[OPTED_OUT])
        await record_rounds(database, org.id, [1] * 250)
        engine = deliverer(app, database)
        assert await engine.deliver_due() == 1
        assert await engine.deliver_due() == 1
        assert await engine.deliver_due() == 0
        assert [len(body) for body in receiver.bodies] == [BATCH_MAX_EVENTS, 50]
        assert [c for body in contacts_received(receiver) for c in body] == list(range(250))
        assert {(r.status, r.attempts) for r in await outbox_rows(database)} == {("delivered", 1)}

    async def test_a_big_round_takes_several_posts_and_rows_are_never_split(
        self, app: FastAPI, client: httpx.AsyncClient, database: Database, org: OrgHandle, receiver: EventReceiver
    ) -> None:
        await add_endpoint(client, org, receiver.url, types=[OPTED_OUT])
        await record_rounds(database, org.id, [450, 150, 30, 100])  # rows of 200, 200, 50, 150, 30, 100
        engine = deliverer(app, database)
        while await engine.deliver_due():
            pass
        assert [len(body) for body in receiver.bodies] == [200, 200, 50 + 150, 30 + 100]
        assert [c for body in contacts_received(receiver) for c in body] == list(range(730))
        assert all(len(body) <= BATCH_MAX_EVENTS for body in receiver.bodies)


class TestAtLeastOnce:
    async def test_a_failed_post_leaves_the_whole_batch_pending_and_it_is_sent_again(
        self, app: FastAPI, client: httpx.AsyncClient, database: Database, org: OrgHandle, receiver: EventReceiver
    ) -> None:
        endpoint = await add_endpoint(client, org, receiver.url, types=[OPTED_OUT])
        await record_rounds(database, org.id, [5])
        test_event = await send_test(client, org, endpoint)
        clock = FakeClock()
        engine = deliverer(app, database, clock)
        receiver.failing = True
        assert await engine.deliver_due() == 1
        assert receiver.events == {} and len(receiver.bodies) == 1 and len(receiver.bodies[0]) == 6
        rows = await outbox_rows(database)
        assert [(r.event_count, r.status, r.attempts, r.last_status_code) for r in rows] == [
            (5, "pending", 1, 503), (1, "pending", 1, 503)]
        receiver.failing = False
        clock.advance(receiver, seconds=1)
        assert await engine.deliver_due() == 1
        assert receiver.bodies[0] == receiver.bodies[1]  # the same events, in the same order, with the same ids
        assert set(receiver.attempts.values()) == {2} and len(receiver.events) == 6 and test_event in receiver.events
        assert [(r.status, r.attempts, r.last_status_code) for r in await outbox_rows(database)] == [
            ("delivered", 2, 200), ("delivered", 2, 200)]

    async def test_a_worker_that_died_mid_post_leaves_the_batch_to_another_after_the_lease(
        self, app: FastAPI, client: httpx.AsyncClient, database: Database, org: OrgHandle, receiver: EventReceiver
    ) -> None:
        await add_endpoint(client, org, receiver.url, types=[OPTED_OUT])
        await record_rounds(database, org.id, [3, 4])
        clock = FakeClock()
        dead = deliverer(app, database, clock)
        async with database.session() as session:  # the dead worker's claim, committed
            (batch,) = await claim.claim_batches(session, now=clock(), limit=16)
        async with dead._http() as http:  # its POST reached the receiver; then the worker died
            assert (await dead._post(http, batch)).error is None
        assert batch.event_count == 7 and len(receiver.events) == 7
        survivor = deliverer(app, database, clock)
        assert await survivor.deliver_due() == 0  # the lease still holds the endpoint
        assert {r.status for r in await outbox_rows(database)} == {"pending"}
        clock.advance(receiver, seconds=ENDPOINT_LEASE.total_seconds() + 1)
        assert await survivor.deliver_due() == 1
        assert receiver.bodies[0] == receiver.bodies[1]  # sent again: at least once, receivers dedupe on the id
        assert [c for c in contacts_received(receiver)[1]] == list(range(7))
        assert {(r.status, r.attempts) for r in await outbox_rows(database)} == {("delivered", 1)}


class TestDeliveryLog:
    async def test_one_item_per_batch_found_by_any_of_its_event_ids_and_by_status(
        self, app: FastAPI, client: httpx.AsyncClient, database: Database, org: OrgHandle, receiver: EventReceiver
    ) -> None:
        endpoint = await add_endpoint(client, org, receiver.url, types=[OPTED_OUT])
        await record_rounds(database, org.id, [3])
        test_event = await send_test(client, org, endpoint)
        path = f"{ENDPOINTS}/{endpoint}/deliveries"
        log = (await client.get(path, headers=org.auth)).json()["items"]
        assert [(d["event_count"], d["event_types"], d["event_type"], d["status"]) for d in log] == [
            (1, ["endpoint.test"], "endpoint.test", "pending"), (3, [OPTED_OUT], OPTED_OUT, "pending")]
        assert log[0]["event_id"] == log[0]["last_event_id"] == test_event

        await deliverer(app, database).deliver_due()
        (body,) = receiver.bodies
        assert body[-1] == test_event
        first, middle, last = body[:3]
        batch = log[1]["id"]
        for event_id in (first, middle, last, f"  {middle} "):
            found = (await client.get(path, params={"event_id": event_id}, headers=org.auth)).json()["items"]
            assert [(d["id"], d["event_id"], d["last_event_id"], d["status"]) for d in found] == [
                (batch, first, last, "delivered")]
        nobody = "evt_" + "0" * 32
        assert (await client.get(path, params={"event_id": nobody}, headers=org.auth)).json()["items"] == []
        for bad in ("evt_%", "evt_" + "_" * 32, middle.upper(), "<b>"):
            refused = await client.get(path, params={"event_id": bad}, headers=org.auth)
            assert refused.status_code == 422, bad
            assert refused.json()["error"]["details"][0]["field"] == "event_id"
        delivered = (await client.get(path, params={"status": "delivered"}, headers=org.auth)).json()["items"]
        assert len(delivered) == 2
        assert (await client.get(path, params={"status": "pending"}, headers=org.auth)).json()["items"] == []

    async def test_an_event_id_of_another_endpoint_finds_nothing_here(
        self, client: httpx.AsyncClient, database: Database, org: OrgHandle, receiver: EventReceiver
    ) -> None:
        one = await add_endpoint(client, org, receiver.url)
        two = await add_endpoint(client, org, receiver.url + "/two")
        event_id = await send_test(client, org, one)
        found = (await client.get(f"{ENDPOINTS}/{two}/deliveries", params={"event_id": event_id},
                                  headers=org.auth)).json()["items"]
        assert found == []


class TestMigration:
    async def test_0020_keeps_the_rows_written_before_as_batches_of_one_and_they_are_delivered(
        self, app: FastAPI, client: httpx.AsyncClient, database: Database, db_url: str, org: OrgHandle,
        receiver: EventReceiver,
    ) -> None:
        endpoint = await add_endpoint(client, org, receiver.url, types=[OPTED_OUT])
        single = await send_test(client, org, endpoint)
        await record_rounds(database, org.id, [3])  # a batch: what 0020's downgrade leaves as one row
        await database.engine.dispose()  # no pooled connection in the way of the schema change
        config = migrate.alembic_config(db_url)
        await asyncio.to_thread(command.downgrade, config, "0019")
        async with database.read_session() as session:  # the shape before: one type per row
            old = (await session.execute(text("SELECT event_id, event_type FROM event_outbox ORDER BY id"))).all()
        assert [tuple(r) for r in old] == [(single, "endpoint.test"), (old[1][0], OPTED_OUT)]
        async with database.session() as session:  # a row as the code before wrote it: json.dumps's spacing
            await session.execute(text(
                "INSERT INTO event_outbox (org_id, endpoint_id, event_id, event_type, payload, status, attempts, "
                "created_at) SELECT org_id, endpoint_id, 'evt_old', 'contact.opted_out', "
                "'{\"id\": \"evt_old\", \"type\": \"contact.opted_out\", \"data\": {\"contact_id\": 99}}', "
                "'pending', 0, created_at FROM event_outbox WHERE event_id = :single"), {"single": single})
        await database.engine.dispose()
        await asyncio.to_thread(command.upgrade, config, "head")

        rows = await outbox_rows(database)
        assert [(r.event_id, r.last_event_id, r.event_count, r.event_types, r.status) for r in rows] == [
            (single, single, 1, "endpoint.test", "pending"),
            (rows[1].event_id, rows[1].event_id, 3, OPTED_OUT, "pending"),
            ("evt_old", "evt_old", 1, OPTED_OUT, "pending"),
        ]
        await deliverer(app, database).deliver_due()
        (body,) = receiver.bodies
        assert len(body) == 5 and body[0] == single and body[-1] == "evt_old"
        assert receiver.events["evt_old"]["data"] == {"contact_id": 99}
        async with database.read_session() as session:
            statuses = (await session.execute(select(EventOutbox.status))).scalars().all()
        assert set(statuses) == {"delivered"}
