"""Username users' webhooks (issue 20, item 6): messages and statuses that name the user by a
business-scoped user id (BSUID), with or without a phone, posted signed to the real endpoint.

Payloads: ``tests/webhooks/payloads/bsuid/*.json``, each with a ``source`` naming where its shape
comes from (the key is dropped before posting: the body is what Meta sends).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import orjson
from fastapi import FastAPI
from sqlalchemy import select

from herald.campaigns import counters
from herald.kit.db import Database
from herald.kit.types import utcnow
from herald.models import CampaignMessage, Contact, Engagement, InboundMessage, WebhookEvent
from tests.conftest import OrgHandle
from tests.dispatch.helpers import stats
from tests.factories import make_contacts, make_number
from tests.webhooks.helpers import (
    APP_SECRET,
    NUMBER_1,
    WABA_1,
    drain,
    make_campaign,
    message,
    not_sent_reasons,
    post_signed,
)

PAYLOADS = Path(__file__).parent / "payloads" / "bsuid"
URSULA_ID = "US.13491208655302741918"
PEDRO_PHONE, PEDRO_ID = "+5511988887777", "BR.99887766554433221100"
TO_PHONE_WAMID = "wamid.HBgNNTUxMTk4ODg4Nzc3NxUCABEYEjQ2000000000000000B01AA=="
TO_USER_WAMID = "wamid.HBgLVVMuMTM0OTEyMDg2FQIAERgSNDIwMDAwMDAwMDAwMDBCMDIA"
REFUSED_WAMID = "wamid.HBgLVVMuMTM0OTEyMDg2FQIAERgSNDIwMDAwMDAwMDAwMDBCMDMA"


def payload(name: str) -> bytes:
    document: dict[str, Any] = orjson.loads((PAYLOADS / name).read_bytes())
    assert document.pop("source")
    return orjson.dumps(document)


async def deliver(client: httpx.AsyncClient, database: Database, name: str) -> None:
    answer = await post_signed(client, payload(name))
    assert answer.status_code == 200, answer.text
    await drain(database)


async def sent_message(database: Database, *, campaign_id: int, contact_id: int, wamid: str,
                       status: str = "sent", engaged: bool = True) -> int:
    """A campaign message already accepted by WhatsApp (the counters as the sender left them)."""
    async with database.session() as session:
        row = CampaignMessage(campaign_id=campaign_id, contact_id=contact_id, attempts=1, status=status,
                              wamid=wamid, sent_at=utcnow())
        session.add(row)
        if engaged:
            session.add(Engagement(contact_id=contact_id, campaign_id=campaign_id))
        await session.flush()
        await counters.add(session, campaign_id=campaign_id, targeted=1, sent=1)
        return row.id


async def contact(database: Database, contact_id: int) -> Contact:
    async with database.read_session() as session:
        found = await session.get(Contact, contact_id)
        assert found is not None
        return found


async def stored(database: Database, wamid: str) -> InboundMessage:
    async with database.read_session() as session:
        return (await session.execute(select(InboundMessage).where(InboundMessage.wamid == wamid))).scalar_one()


async def outcome(database: Database, dedupe_key: str) -> str | None:
    async with database.read_session() as session:
        return (await session.execute(
            select(WebhookEvent.outcome).where(WebhookEvent.dedupe_key == dedupe_key)
        )).scalar_one()


async def number(database: Database, app: FastAPI, org: OrgHandle) -> int:
    return await make_number(database, app.state.secret_box, org_id=org.id, phone_number_id=NUMBER_1,
                             waba_id=WABA_1, app_secret=APP_SECRET)


class TestMessagesFromUsernameUsers:
    async def test_a_message_with_only_a_user_id_is_a_reply_of_the_contact_holding_it(
        self, app: FastAPI, client: httpx.AsyncClient, database: Database, org: OrgHandle
    ) -> None:
        number_id = await number(database, app, org)
        [ursula] = await make_contacts(database, org_id=org.id, specs=[{"phone": None, "wa_user_id": URSULA_ID}])
        campaign = await make_campaign(database, org_id=org.id, number_id=number_id)
        message_id = await sent_message(database, campaign_id=campaign, contact_id=ursula, wamid=TO_USER_WAMID)

        await deliver(client, database, "message_username_only.json")

        wamid = "wamid.HBgLVVMuMTM0OTEyMDg2FQIAEhgUM0VCMDFBQ0M5QjQ1Mzc1MEQ2QjAA"
        row = await stored(database, wamid)
        assert (row.contact_id, row.campaign_id, row.from_wa_id) == (ursula, campaign, None)
        assert row.text == "Does the offer include delivery?"
        replied = await message(database, message_id)
        assert replied.replied_at is not None and replied.status == "delivered"  # a reply proves delivery
        assert (await stats(database, campaign))["replied"] == 1

    async def test_a_user_id_seen_beside_a_phone_is_kept_and_matches_once_the_phone_is_hidden(
        self, app: FastAPI, client: httpx.AsyncClient, database: Database, org: OrgHandle
    ) -> None:
        await number(database, app, org)
        [pedro] = await make_contacts(database, org_id=org.id, specs=[{"phone": PEDRO_PHONE}])

        await deliver(client, database, "message_phone_and_user_id.json")

        assert (await contact(database, pedro)).wa_user_id == PEDRO_ID
        # Later the same user writes with the phone hidden: still Pedro.
        hidden = orjson.loads(payload("message_username_only.json"))
        value = hidden["entry"][0]["changes"][0]["value"]
        value["contacts"][0]["user_id"] = value["messages"][0]["from_user_id"] = PEDRO_ID
        answer = await post_signed(client, orjson.dumps(hidden))
        assert answer.status_code == 200
        await drain(database)
        row = await stored(database, value["messages"][0]["id"])
        assert row.contact_id == pedro
        assert await outcome(database, f"m:{row.wamid}") == "stored"

    async def test_a_user_id_held_by_another_contact_is_not_taken(
        self, app: FastAPI, client: httpx.AsyncClient, database: Database, org: OrgHandle
    ) -> None:
        # The same user imported twice, by phone and by user id: both stay as they were, for a person to merge.
        await number(database, app, org)
        pedro, twin = await make_contacts(database, org_id=org.id, specs=[
            {"phone": PEDRO_PHONE}, {"phone": None, "wa_user_id": PEDRO_ID},
        ])

        await deliver(client, database, "message_phone_and_user_id.json")

        assert (await contact(database, pedro)).wa_user_id is None
        assert (await contact(database, twin)).wa_user_id == PEDRO_ID
        assert (await stored(database, "wamid.HBgNNTUxMTk4ODg4Nzc3NxUCABIYFjNFQjBDMTIzNDU2Nzg5MEFCQ0RFRgA=")).contact_id == pedro


class TestStatusesNamingAUserId:
    async def test_a_status_of_a_message_sent_to_a_phone_teaches_the_contact_its_user_id(
        self, app: FastAPI, client: httpx.AsyncClient, database: Database, org: OrgHandle
    ) -> None:
        number_id = await number(database, app, org)
        [pedro] = await make_contacts(database, org_id=org.id, specs=[{"phone": PEDRO_PHONE}])
        campaign = await make_campaign(database, org_id=org.id, number_id=number_id)
        message_id = await sent_message(database, campaign_id=campaign, contact_id=pedro, wamid=TO_PHONE_WAMID)

        await deliver(client, database, "status_sent_to_phone_with_user_id.json")

        assert (await message(database, message_id)).status == "delivered"
        assert (await contact(database, pedro)).wa_user_id == PEDRO_ID

    async def test_statuses_of_a_message_sent_by_user_id_are_applied(
        self, app: FastAPI, client: httpx.AsyncClient, database: Database, org: OrgHandle
    ) -> None:
        number_id = await number(database, app, org)
        [ursula] = await make_contacts(database, org_id=org.id, specs=[{"phone": None, "wa_user_id": URSULA_ID}])
        campaign = await make_campaign(database, org_id=org.id, number_id=number_id)
        message_id = await sent_message(database, campaign_id=campaign, contact_id=ursula, wamid=TO_USER_WAMID)

        await deliver(client, database, "status_sent_to_user_id.json")

        row = await message(database, message_id)
        assert row.status == "read" and row.delivered_at is not None and row.read_at is not None
        counts = await stats(database, campaign)
        assert (counts["received"], counts["read"]) == (1, 1)
        assert (await contact(database, ursula)).phone is None

    async def test_meta_refusing_a_user_id_recipient_fails_the_message_with_the_reason(
        self, app: FastAPI, client: httpx.AsyncClient, database: Database, org: OrgHandle
    ) -> None:
        number_id = await number(database, app, org)
        [ursula] = await make_contacts(database, org_id=org.id, specs=[{"phone": None, "wa_user_id": URSULA_ID}])
        campaign = await make_campaign(database, org_id=org.id, number_id=number_id)
        message_id = await sent_message(database, campaign_id=campaign, contact_id=ursula, wamid=REFUSED_WAMID)

        await deliver(client, database, "status_failed_131062.json")

        row = await message(database, message_id)
        reason = "WhatsApp needs a phone for this message; the contact has only a user id"
        assert (row.status, row.error_code, row.error_msg) == ("failed", 131062, reason)
        assert await not_sent_reasons(database, campaign) == {reason: 1}
        async with database.read_session() as session:
            engaged = (await session.execute(select(Engagement).where(Engagement.contact_id == ursula))).first()
        assert engaged is None  # released: the next campaign may take her


class TestPreferencesOfUsernameUsers:
    async def test_a_stop_naming_only_the_user_id_opts_that_contact_out(
        self, app: FastAPI, client: httpx.AsyncClient, database: Database, org: OrgHandle
    ) -> None:
        await number(database, app, org)
        ursula, other = await make_contacts(database, org_id=org.id, specs=[
            {"phone": None, "wa_user_id": URSULA_ID}, {"phone": PEDRO_PHONE}])

        await deliver(client, database, "user_preferences_stop_by_user_id.json")

        assert (await contact(database, ursula)).opted_out_at is not None
        assert (await contact(database, other)).opted_out_at is None
