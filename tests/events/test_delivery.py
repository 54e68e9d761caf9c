"""The deliverer with an injected clock: signed batches, per-endpoint back-off, 24 h of retries, the policy."""

from __future__ import annotations

from datetime import datetime, timedelta

import httpx
from fastapi import FastAPI
from sqlalchemy import event, select, update

from herald.campaigns.lifecycle import Status, transition
from herald.events import claim, outbox
from herald.events.delivery import EventDeliverer, backoff
from herald.events.outbox import CampaignEvent, record_campaign_events
from herald.events.types import EventType
from herald.kit.db import Database
from herald.kit.outbound import OutboundPolicy
from herald.kit.types import utcnow
from herald.models import EventEndpoint, EventOutbox
from tests.conftest import LOOPBACK_ALLOWED, OrgHandle
from tests.events.receiver import RECEIVER_SECRET, EventReceiver
from tests.factories import make_active_campaign, make_contacts, make_number

ENDPOINTS = "/api/v1/event-endpoints"


class FakeClock:
    """Real time plus an offset the test moves forward."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def __call__(self) -> datetime:
        return utcnow() + self.offset

    def advance(self, receiver: EventReceiver, **kwargs: float) -> None:
        self.offset += timedelta(**kwargs)
        receiver.clock_offset = self.offset.total_seconds()


async def add_endpoint(client: httpx.AsyncClient, org: OrgHandle, url: str, *, types: list[str] | None = None,
                       secret: str = RECEIVER_SECRET) -> int:
    answer = await client.post(ENDPOINTS, headers=org.auth, json={
        "url": url, "secret": secret, "event_types": types or ["campaign.started", "campaign.paused"]})
    assert answer.status_code == 201, answer.text
    return int(answer.json()["id"])


async def send_test(client: httpx.AsyncClient, org: OrgHandle, endpoint_id: int) -> str:
    answer = await client.post(f"{ENDPOINTS}/{endpoint_id}/test", headers=org.auth)
    assert answer.status_code == 202, answer.text
    return str(answer.json()["event_id"])


async def outbox_rows(database: Database) -> list[EventOutbox]:
    async with database.read_session() as session:
        return list((await session.execute(select(EventOutbox).order_by(EventOutbox.id))).scalars())


def deliverer(app: FastAPI, database: Database, clock: FakeClock | None = None,
              outbound: OutboundPolicy = LOOPBACK_ALLOWED) -> EventDeliverer:
    return EventDeliverer(database=database, box=app.state.secret_box, outbound=outbound, now=clock or FakeClock())


class TestBackoff:
    def test_doubles_from_one_second_and_caps_at_ten_minutes(self) -> None:
        assert [backoff(n).total_seconds() for n in (1, 2, 3, 4, 10, 11, 500)] == [1, 2, 4, 8, 512, 600, 600]


class TestSignature:
    async def test_receiver_verifies_the_signature_with_the_endpoint_secret(
        self, app: FastAPI, client: httpx.AsyncClient, database: Database, org: OrgHandle, receiver: EventReceiver
    ) -> None:
        endpoint = await add_endpoint(client, org, receiver.url)
        event_id = await send_test(client, org, endpoint)
        assert await deliverer(app, database).deliver_due() == 1
        assert receiver.bad_signatures == 0
        assert receiver.events[event_id]["type"] == "endpoint.test"
        assert receiver.events[event_id]["org_id"] == org.id

    async def test_receiver_with_another_secret_refuses_and_nothing_it_said_is_stored(
        self, app: FastAPI, client: httpx.AsyncClient, database: Database, org: OrgHandle, receiver: EventReceiver
    ) -> None:
        endpoint = await add_endpoint(client, org, receiver.url, secret="not-the-receivers-secret")
        await send_test(client, org, endpoint)
        await deliverer(app, database).deliver_due()
        assert receiver.bad_signatures == 1 and receiver.events == {}
        log = (await client.get(f"{ENDPOINTS}/{endpoint}/deliveries", headers=org.auth)).json()["items"]
        assert [(d["status"], d["attempts"], d["last_status_code"]) for d in log] == [("pending", 1, 401)]
        assert log[0]["last_error"] == "the endpoint answered HTTP 401"
        stored = [(r.payload, r.last_error) for r in await outbox_rows(database)]
        assert "must never be stored" not in repr(stored)


class TestRetries:
    async def test_failing_receiver_is_retried_with_backoff_then_gets_each_event_once(
        self, app: FastAPI, client: httpx.AsyncClient, database: Database, org: OrgHandle, receiver: EventReceiver
    ) -> None:
        endpoint = await add_endpoint(client, org, receiver.url)
        first = await send_test(client, org, endpoint)
        clock = FakeClock()
        engine = deliverer(app, database, clock)
        receiver.failing = True
        assert await engine.deliver_due() == 1  # fails: back off 1 s
        assert await engine.deliver_due() == 0  # not before the back-off
        clock.advance(receiver, seconds=1)
        second = await send_test(client, org, endpoint)  # joins the next batch
        assert await engine.deliver_due() == 1  # fails again: back off 2 s
        clock.advance(receiver, seconds=1)
        assert await engine.deliver_due() == 0
        receiver.failing = False
        clock.advance(receiver, seconds=1)
        assert await engine.deliver_due() == 1
        assert await engine.deliver_due() == 0
        assert set(receiver.events) == {first, second}
        assert receiver.attempts == {first: 3, second: 2}  # the same id each time: receivers dedupe on it
        rows = {r.event_id: r for r in await outbox_rows(database)}
        assert (rows[first].status, rows[first].attempts, rows[first].last_status_code) == ("delivered", 3, 200)
        async with database.read_session() as session:
            ep = await session.get(EventEndpoint, endpoint)
            assert ep is not None and (ep.failures, ep.backoff_until) == (0, None)

    async def test_events_fail_for_good_after_24_hours_of_retries(
        self, app: FastAPI, client: httpx.AsyncClient, database: Database, org: OrgHandle, receiver: EventReceiver
    ) -> None:
        endpoint = await add_endpoint(client, org, receiver.url)
        await send_test(client, org, endpoint)
        clock = FakeClock()
        engine = deliverer(app, database, clock)
        receiver.failing = True
        await engine.deliver_due()
        clock.advance(receiver, hours=23)
        await engine.deliver_due()
        assert (await outbox_rows(database))[0].status == "pending"
        clock.advance(receiver, hours=1, seconds=1)
        await engine.deliver_due()
        row = (await outbox_rows(database))[0]
        assert (row.status, row.attempts, row.last_error) == ("failed", 3, "the endpoint answered HTTP 503")

    async def test_a_failing_endpoint_does_not_hold_back_another(
        self, app: FastAPI, client: httpx.AsyncClient, database: Database, org: OrgHandle, receiver: EventReceiver
    ) -> None:
        dead = await add_endpoint(client, org, "http://127.0.0.1:9/nobody")
        alive = await add_endpoint(client, org, receiver.url)
        await send_test(client, org, dead)
        event_id = await send_test(client, org, alive)
        await deliverer(app, database).deliver_due()
        assert list(receiver.events) == [event_id]
        statuses = {r.endpoint_id: (r.status, r.last_error) for r in await outbox_rows(database)}
        assert statuses == {dead: ("pending", "could not reach the endpoint: connection failed"),
                            alive: ("delivered", None)}


class TestOutboundPolicy:
    async def test_no_delivery_to_a_private_url_without_the_allow_setting(
        self, app: FastAPI, client: httpx.AsyncClient, database: Database, org: OrgHandle, receiver: EventReceiver
    ) -> None:
        """An endpoint saved while private URLs were allowed, delivered by a worker that does not allow them."""
        endpoint = await add_endpoint(client, org, receiver.url)
        await send_test(client, org, endpoint)
        await deliverer(app, database, outbound=OutboundPolicy(allow_private_urls=False)).deliver_due()
        assert receiver.posts == 0
        row = (await outbox_rows(database))[0]
        assert row.status == "pending"
        assert row.last_error is not None and "refused by outbound URL policy: loopback address" in row.last_error


class TestRecording:
    async def test_events_are_written_only_for_subscribed_types_and_organizations(
        self, app: FastAPI, client: httpx.AsyncClient, database: Database, org: OrgHandle, other_org: OrgHandle,
        receiver: EventReceiver,
    ) -> None:
        endpoint = await add_endpoint(client, org, receiver.url, types=["campaign.started"])
        ours = await ready_campaign(app, database, org.id)
        theirs = await ready_campaign(app, database, other_org.id)
        async with database.session() as session:
            for campaign_id in (ours, theirs):
                await transition(session, campaign_id=campaign_id, to=Status.active)
                await transition(session, campaign_id=campaign_id, to=Status.paused)
        rows = await outbox_rows(database)
        assert [(r.endpoint_id, r.event_types, r.org_id, r.event_count) for r in rows] == [
            (endpoint, "campaign.started", org.id, 1)]
        await deliverer(app, database).deliver_due()
        (started,) = receiver.events.values()
        assert started["data"]["campaign_id"] == ours

    async def test_an_admin_opting_a_contact_out_reports_it_once(
        self, client: httpx.AsyncClient, database: Database, org: OrgHandle, receiver: EventReceiver
    ) -> None:
        await add_endpoint(client, org, receiver.url, types=["contact.opted_out"])
        (contact,) = await make_contacts(database, org_id=org.id, specs=[{"phone": "+14155550190"}])
        for _ in range(2):  # the second time it already is: nothing new to report
            answer = await client.patch(f"/api/v1/contacts/{contact}", json={"opted_out": True}, headers=org.auth)
            assert answer.status_code == 200, answer.text
        (row,) = await outbox_rows(database)
        assert (row.event_types, row.event_count) == ("contact.opted_out", 1)
        assert f'"contact_id":{contact}' in row.payload and '"reason":"set in Herald"' in row.payload

    async def test_organization_without_endpoints_writes_nothing_and_runs_no_statement(
        self, app: FastAPI, database: Database, org: OrgHandle
    ) -> None:
        campaign = await ready_campaign(app, database, org.id)
        statements: list[str] = []
        events = [CampaignEvent(campaign, EventType.message_sent, {"message_id": i}) for i in range(100)]
        async with database.session() as session:
            assert await record_campaign_events(session, events) == 0  # reads the (empty) subscriptions once
            listen = event.listens_for(database.engine.sync_engine, "before_cursor_execute")
            listen(lambda *args: statements.append(args[2]))
            assert await record_campaign_events(session, events) == 0
            await transition(session, campaign_id=campaign, to=Status.active)
        assert [s for s in statements if "event_" in s or "campaigns.org_id" in s] == []
        assert await outbox_rows(database) == []

    async def test_a_deleted_endpoint_seen_by_a_stale_cache_never_breaks_the_recording(
        self, app: FastAPI, client: httpx.AsyncClient, database: Database, org: OrgHandle, receiver: EventReceiver
    ) -> None:
        endpoint = await add_endpoint(client, org, receiver.url, types=["campaign.started"])
        campaign = await ready_campaign(app, database, org.id)
        async with database.session() as session:  # warms this process's cache with the endpoint
            await outbox.record_events(session, [])
            await record_campaign_events(session, [CampaignEvent(campaign, "campaign.paused", {})])
        async with database.session() as session:  # deleted by another process: our cache does not know
            await session.execute(update(EventEndpoint).values(deleted_at=utcnow()))
        async with database.session() as session:
            await transition(session, campaign_id=campaign, to=Status.active)
        assert [r.endpoint_id for r in await outbox_rows(database)] == [endpoint]
        await deliverer(app, database).deliver_due()
        assert receiver.posts == 0
        clock = FakeClock()
        clock.offset = timedelta(minutes=11)
        engine = deliverer(app, database, clock)
        await engine._prune_now_and_then()
        assert await outbox_rows(database) == []


async def ready_campaign(app: FastAPI, database: Database, org_id: int) -> int:
    number = await make_number(database, app.state.secret_box, org_id=org_id, base_url="http://127.0.0.1:9",
                               phone_number_id=f"pn-{org_id}")
    return await make_active_campaign(database, org_id=org_id, number_id=number, audience={"tags_any": ["x"]},
                                      variables={}, media_row_id=None, bot_flow_id=None, status="ready")



class TestRetention:
    async def test_delivered_events_go_after_a_week_failed_after_a_month_pending_never(
        self, client: httpx.AsyncClient, database: Database, org: OrgHandle, receiver: EventReceiver
    ) -> None:
        endpoint = await add_endpoint(client, org, receiver.url)
        now = utcnow()
        ages = {"old-delivered": ("delivered", 8), "new-delivered": ("delivered", 6), "failed": ("failed", 8),
                "old-failed": ("failed", 31), "pending": ("pending", 40)}
        async with database.session() as session:
            for event_id, (status, days) in sorted(ages.items(), key=lambda item: -item[1][1]):  # oldest first
                session.add(EventOutbox(org_id=org.id, endpoint_id=endpoint, event_id=event_id, last_event_id=event_id,
                                        event_count=1, event_types="x", payload="{}", status=status, attempts=1,
                                        created_at=now - timedelta(days=days)))
        async with database.session() as session:
            assert await claim.prune(session, now=now) == 2
        assert {r.event_id for r in await outbox_rows(database)} == {"new-delivered", "failed", "pending"}
