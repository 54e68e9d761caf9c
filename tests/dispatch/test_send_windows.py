"""Send windows at claim time (dispatch/send_window.py): contacts outside their local window wait with
the reason, and are sent once the clock passes their opening. The engine's clock is driven by
replacing the claim's ``utcnow`` (``herald.dispatch.batch``) with a settable one."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest
from fastapi import FastAPI

from herald.kit.db import Database
from herald.models import MessageStatus
from herald.simulator import SimulatorServer
from tests.conftest import OrgHandle
from tests.dispatch.helpers import hello_simulator, messages, running_worker, sim_messages, stats, wait_until
from tests.factories import make_active_campaign, make_contacts, make_number, make_template

pytestmark = pytest.mark.slow

VARIABLES = {"1": {"source": "contact_name"}}
BERLIN, SAO_PAULO = "+4915112345678", "+5511987654321"
# A Monday, 12:00 UTC: 13:00 in Berlin, 09:00 in São Paulo, 21:00 in Tokyo.
MONDAY_NOON = datetime(2027, 1, 4, 12, tzinfo=UTC)
WINDOW = {"window_start": "10:00", "window_end": "20:00", "window_weekdays": ["mon", "tue", "wed", "thu", "fri"]}


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock(MONDAY_NOON)
    monkeypatch.setattr("herald.dispatch.batch.utcnow", fake)
    return fake


@pytest.fixture
def simulator() -> Iterator[SimulatorServer]:
    with hello_simulator() as sim:
        yield sim


async def start(app: FastAPI, database: Database, org: OrgHandle, sim: SimulatorServer,
                specs: list[dict[str, object]], **window: object) -> tuple[int, list[int]]:
    number = await make_number(database, app.state.secret_box, org_id=org.id, base_url=sim.base_url)
    await make_template(database, org_id=org.id, name="hello", variables=["1"], header_format=None)
    contacts = await make_contacts(database, org_id=org.id, specs=[{"tags": ["vip"], **spec} for spec in specs])
    campaign = await make_active_campaign(
        database, org_id=org.id, number_id=number, audience={"tags_any": ["vip"]}, variables=VARIABLES,
        media_row_id=None, bot_flow_id=None, template="hello", **window,
    )
    return campaign, contacts


async def statuses(database: Database, campaign: int) -> dict[int, tuple[str, str | None]]:
    return {cid: (m.status, m.wait_reason) for cid, m in (await messages(database, campaign)).items()}


class TestSendWindows:
    async def test_contacts_outside_their_window_wait_with_the_reason_and_go_when_it_opens(
        self, app: FastAPI, client: httpx.AsyncClient, database: Database, org: OrgHandle,
        simulator: SimulatorServer, clock: Clock,
    ) -> None:
        campaign, (berlin, sao_paulo, tokyo, bad_tag) = await start(app, database, org, simulator, [
            {"phone": BERLIN, "name": "Berlin"},
            {"phone": SAO_PAULO, "name": "SaoPaulo"},
            {"phone": "+4915112345679", "name": "Tokyo", "valued_tags": {"timezone": "Asia/Tokyo"}},
            # Not a zone: the phone's (Berlin) is used.
            {"phone": "+4915112345670", "name": "Bad", "valued_tags": {"timezone": "Mars/Olympus"}},
        ],
            **WINDOW,
        )

        async def first_round() -> bool:
            found = await statuses(database, campaign)
            return len(found) == 4 and all(s != MessageStatus.pending or r for s, r in found.values()) and \
                found[berlin][0] == MessageStatus.sent and found[bad_tag][0] == MessageStatus.sent

        async with running_worker(database, app.state.secret_box):
            await wait_until(first_round)
            found = await statuses(database, campaign)
            assert found[sao_paulo] == (MessageStatus.pending, "waiting for 10:00 America/Sao_Paulo")
            assert found[tokyo] == (MessageStatus.pending, "waiting for 10:00 Asia/Tokyo")
            assert {m["to"] for m in sim_messages(simulator.base_url)} == {"+4915112345678", "+4915112345670"}

            body = (await client.get(f"/api/v1/campaigns/{campaign}/stats", headers=org.auth)).json()
            assert body["waiting"] == 2
            assert body["waiting_reasons"] == {"waiting for 10:00 America/Sao_Paulo": 1,
                                               "waiting for 10:00 Asia/Tokyo": 1}
            assert body["next_send_at"].startswith("2027-01-04T13:00")
            report = await client.get(f"/api/v1/campaigns/{campaign}/report.csv", headers=org.auth)
            waiting = {row["phone"]: row["waiting"] for row in csv.DictReader(io.StringIO(report.text))}
            assert waiting[SAO_PAULO].startswith("waiting for 10:00 America/Sao_Paulo; next send at 2027-01-04")

            clock.now = datetime(2027, 1, 4, 13, 0, 1, tzinfo=UTC)  # 10:00:01 in São Paulo
            await wait_until(lambda: _status_is(database, campaign, sao_paulo, MessageStatus.sent))
            assert (await statuses(database, campaign))[tokyo][0] == MessageStatus.pending

            clock.now = datetime(2027, 1, 5, 1, 0, 1, tzinfo=UTC)  # Tuesday 10:00:01 in Tokyo
            await wait_until(lambda: _status_is(database, campaign, tokyo, MessageStatus.sent))
        assert (await stats(database, campaign))["sent"] == 4
        assert len(sim_messages(simulator.base_url)) == 4

    async def test_end_action_counts_contacts_whose_window_closed_not_sent(
        self, app: FastAPI, client: httpx.AsyncClient, database: Database, org: OrgHandle,
        simulator: SimulatorServer, clock: Clock,
    ) -> None:
        campaign, (berlin, sao_paulo) = await start(app, database, org, simulator, [
            {"phone": BERLIN, "name": "Berlin"}, {"phone": SAO_PAULO, "name": "SaoPaulo"},
        ], **WINDOW, window_end_action="end", started_at=MONDAY_NOON)
        async with running_worker(database, app.state.secret_box):
            await wait_until(lambda: _status_is(database, campaign, berlin, MessageStatus.sent))
            # Monday 21:00 in São Paulo: its only window (10:00-20:00) closed before it was sent.
            clock.now = datetime(2027, 1, 5, 0, tzinfo=UTC)
            await wait_until(lambda: _status_is(database, campaign, sao_paulo, MessageStatus.not_sent))
        found = await messages(database, campaign)
        assert found[sao_paulo].error_msg == "send window closed before it was sent"
        assert (await stats(database, campaign))["pending"] == 0
        body = (await client.get(f"/api/v1/campaigns/{campaign}/stats", headers=org.auth)).json()
        assert body["not_sent_reasons"] == {"send window closed before it was sent": 1}
        assert len(sim_messages(simulator.base_url)) == 1

    async def test_a_campaign_without_a_window_sends_at_any_hour(
        self, app: FastAPI, database: Database, org: OrgHandle, simulator: SimulatorServer, clock: Clock,
    ) -> None:
        clock.now = datetime(2027, 1, 3, 3, tzinfo=UTC)  # Sunday night everywhere in the Americas
        campaign, _ = await start(app, database, org, simulator, [
            {"phone": BERLIN, "name": "Berlin"}, {"phone": SAO_PAULO, "name": "SaoPaulo"},
        ])
        async with running_worker(database, app.state.secret_box):
            await wait_until(lambda: _sent(database, campaign, 2))
        assert all(m.wait_reason is None for m in (await messages(database, campaign)).values())


async def _status_is(database: Database, campaign: int, contact: int, status: str) -> bool:
    return (await statuses(database, campaign)).get(contact, ("", None))[0] == status


async def _sent(database: Database, campaign: int, count: int) -> bool:
    return (await stats(database, campaign))["sent"] == count
