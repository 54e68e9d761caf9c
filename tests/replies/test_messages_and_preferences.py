"""Bots answering inside the 24-hour window, and users stopping / resuming marketing (through the simulator)."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from herald.auth.principal import Role
from herald.kit.db import Database
from herald.kit.types import utcnow
from herald.models import Campaign, CampaignNotSentReason, Contact, InboundMessage
from herald.simulator import Scenario, SimulatorServer
from tests.conftest import OrgHandle
from tests.dispatch.helpers import messages, running_worker, sim_messages, wait_until
from tests.factories import make_active_campaign, make_bot_flow, make_contacts, make_number
from tests.replies.helpers import PHONE_NUMBER_ID
from tests.replies.test_replies_from_simulator import inbound, user_writes

ALICE, BOB = "+14155556001", "+14155556002"


async def opted_out_at(database: Database, contact_id: int) -> object:
    async with database.read_session() as session:
        return (await session.execute(select(Contact.opted_out_at).where(Contact.id == contact_id))).scalar_one()


async def set_preference(sim: SimulatorServer, phone: str, value: str) -> None:
    async with httpx.AsyncClient() as http:
        answer = await http.post(f"{sim.base_url}/_sim/user-preferences",
                                 json={"phone_number_id": PHONE_NUMBER_ID, "wa_id": phone, "value": value})
        answer.raise_for_status()


class TestPostMessages:
    @pytest.mark.server
    async def test_a_bot_answers_a_contact_who_wrote_within_24_hours(
        self, app: FastAPI, client: httpx.AsyncClient, database: Database, org: OrgHandle, sim: SimulatorServer
    ) -> None:
        box = app.state.secret_box
        number = await make_number(database, box, org_id=org.id, base_url=sim.base_url)
        await make_contacts(database, org_id=org.id, specs=[{"phone": ALICE}, {"phone": BOB}])
        async with running_worker(database, box):
            wamid = await user_writes(sim, ALICE, text="can I talk to someone?")
            await wait_until(lambda: _stored(database, wamid), timeout=20)
        answer = await client.post("/api/v1/messages", headers=org.headers(Role.editor),
                                   json={"whatsapp_number_id": number, "to": ALICE, "text": "Sure, here I am"})
        assert answer.status_code == 200, answer.text
        sent = [m for m in sim_messages(sim.base_url) if m.get("wamid") == answer.json()["wamid"]]
        assert len(sent) == 1 and sent[0]["to"].lstrip("+") == ALICE.lstrip("+")

        silent = await client.post("/api/v1/messages", headers=org.auth,
                                   json={"whatsapp_number_id": number, "to": BOB, "text": "hello"})
        assert silent.status_code == 409
        error = silent.json()["error"]
        assert error["code"] == "outside_service_window" and "131047" in error["message"]
        assert "more than 24 hours since the contact's last message" in error["message"]

    @pytest.mark.server
    async def test_a_last_message_older_than_24_hours_is_outside_the_window(
        self, app: FastAPI, client: httpx.AsyncClient, database: Database, org: OrgHandle, sim: SimulatorServer
    ) -> None:
        box = app.state.secret_box
        number = await make_number(database, box, org_id=org.id, base_url=sim.base_url)
        [alice] = await make_contacts(database, org_id=org.id, specs=[{"phone": ALICE}])
        async with database.session() as session:
            session.add(InboundMessage(
                org_id=org.id, whatsapp_number_id=number, contact_id=alice, wamid="wamid.old", from_wa_id=ALICE[1:],
                type="text", text="hi", payload={}, sent_at=utcnow() - timedelta(hours=24, minutes=1),
            ))
        answer = await client.post("/api/v1/messages", headers=org.auth,
                                   json={"whatsapp_number_id": number, "to": ALICE, "text": "too late"})
        assert answer.status_code == 409 and answer.json()["error"]["code"] == "outside_service_window"
        assert sim_messages(sim.base_url) == []

    @pytest.mark.server
    async def test_whatsapp_refusing_is_502_with_its_reason_and_other_numbers_are_404(
        self, app: FastAPI, client: httpx.AsyncClient, database: Database, org: OrgHandle, other_org: OrgHandle,
        sim: SimulatorServer,
    ) -> None:
        box = app.state.secret_box
        # A number the simulator does not know: WhatsApp answers with an error envelope.
        number = await make_number(database, box, org_id=org.id, base_url=sim.base_url, phone_number_id="1090999")
        [alice] = await make_contacts(database, org_id=org.id, specs=[{"phone": ALICE}])
        async with database.session() as session:
            session.add(InboundMessage(
                org_id=org.id, whatsapp_number_id=number, contact_id=alice, wamid="wamid.recent",
                from_wa_id=ALICE[1:], type="text", text="hi", payload={}, sent_at=utcnow() - timedelta(minutes=5),
            ))
        body = {"whatsapp_number_id": number, "to": ALICE, "text": "hello"}
        refused = await client.post("/api/v1/messages", headers=org.auth, json=body)
        assert refused.status_code == 502
        assert refused.json()["error"]["code"] == "whatsapp_error"
        assert refused.json()["error"]["message"].startswith("WhatsApp did not accept the message: ")
        assert (await client.post("/api/v1/messages", headers=other_org.auth, json=body)).status_code == 404
        assert (await client.post("/api/v1/messages", headers=org.headers(Role.viewer), json=body)).status_code == 403

    async def test_a_number_at_its_throughput_answers_429_with_retry_after_and_nothing_extra_is_sent(
        self, app: FastAPI, client: httpx.AsyncClient, database: Database, org: OrgHandle
    ) -> None:
        # Bot answers share the number's throughput with its campaigns: one message per second here.
        slow = Scenario.model_validate({"phone_numbers": [{"phone_number_id": PHONE_NUMBER_ID, "throughput_mps": 1}],
                                        "webhooks_enabled": False})
        with SimulatorServer(slow) as sim:
            box = app.state.secret_box
            number = await make_number(database, box, org_id=org.id, base_url=sim.base_url)
            [alice] = await make_contacts(database, org_id=org.id, specs=[{"phone": ALICE}])
            # The user writes (the simulator opens its window; its webhook is off, so Herald's row is added here).
            wamid = await user_writes(sim, ALICE, text="anyone there?")
            async with database.session() as session:
                session.add(InboundMessage(
                    org_id=org.id, whatsapp_number_id=number, contact_id=alice, wamid=wamid,
                    from_wa_id=ALICE[1:], type="text", text="hi", payload={}, sent_at=utcnow() - timedelta(minutes=1),
                ))
            body = {"whatsapp_number_id": number, "to": ALICE, "text": "one moment"}
            answers = [await client.post("/api/v1/messages", headers=org.auth, json=body) for _ in range(4)]
            accepted = [a for a in answers if a.status_code == 200]
            limited = [a for a in answers if a.status_code == 429]
            assert accepted and limited and len(accepted) + len(limited) == 4, [a.text for a in answers]
            error = limited[0].json()["error"]
            assert error["code"] == "rate_limited" and error["details"]["code"] == 130429
            assert error["message"].startswith("WhatsApp asks to slow down: ")
            assert limited[0].headers["Retry-After"] == "1"
            # The simulator holds exactly the messages Herald reported as sent.
            assert sorted(m["wamid"] for m in sim_messages(sim.base_url)) == sorted(a.json()["wamid"] for a in accepted)


@pytest.mark.server
class TestPreferences:
    async def test_stop_opts_out_a_later_campaign_skips_the_contact_and_resume_clears_it(
        self, app: FastAPI, database: Database, org: OrgHandle, sim: SimulatorServer
    ) -> None:
        box = app.state.secret_box
        number = await make_number(database, box, org_id=org.id, base_url=sim.base_url)
        bot = await make_bot_flow(database, box, org_id=org.id)
        alice, bob = await make_contacts(database, org_id=org.id, specs=[
            {"phone": ALICE, "name": "Alice", "tags": ["vip"]}, {"phone": BOB, "name": "Bob", "tags": ["vip"]},
        ])
        async with running_worker(database, box):
            await set_preference(sim, ALICE, "stop")
            await wait_until(lambda: _opted_out(database, alice, True), timeout=20)
            campaign = await make_active_campaign(
                database, org_id=org.id, number_id=number, audience={"tags_any": ["vip"]}, variables={},
                media_row_id=None, bot_flow_id=bot,
            )
            await wait_until(lambda: _materialized(database, campaign), timeout=20)
            rows = await messages(database, campaign)
            assert (rows[alice].status, rows[alice].error_msg) == ("not_sent", "contact opted out of marketing")
            assert rows[bob].error_msg != "contact opted out of marketing"
            async with database.read_session() as session:
                reasons = dict((await session.execute(
                    select(CampaignNotSentReason.reason, CampaignNotSentReason.count)
                    .where(CampaignNotSentReason.campaign_id == campaign)
                )).all())
            assert reasons.get("contact opted out of marketing") == 1

            await set_preference(sim, ALICE, "resume")
            await wait_until(lambda: _opted_out(database, alice, False), timeout=20)
        assert await opted_out_at(database, bob) is None


async def _stored(database: Database, wamid: str) -> bool:
    return await inbound(database, wamid) is not None


async def _opted_out(database: Database, contact_id: int, expected: bool) -> bool:
    return (await opted_out_at(database, contact_id) is not None) == expected


async def _materialized(database: Database, campaign_id: int) -> bool:
    async with database.read_session() as session:
        campaign = await session.get(Campaign, campaign_id)
        return campaign is not None and campaign.materialized_at is not None
