"""System messages about the contact (docs/whatsapp.md, "Inbound messages"): a changed number moves
the contact (same contact: history, tags and engagement kept) or, when another contact has that
number, leaves both for a person to merge with the reason on both; identity and BSUID changes are
recorded on the contact. Payloads: tests/webhooks/payloads/inbound (each names its source)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from fastapi import FastAPI
from httpx import AsyncClient
from sqlalchemy import select

from herald.kit.db import Database
from herald.models import Engagement
from tests.conftest import OrgHandle
from tests.dispatch.helpers import stats
from tests.replies.helpers import BotEndpoint
from tests.webhooks.inbound_setup import (
    ALICE,
    BOB,
    alice_campaign,
    campaign_message,
    contact,
    contact_events,
    deliver,
    inbound_rows,
    receive,
    running_bot,
)

NEW_PHONE = "+14155557099"


@pytest.fixture
async def bot() -> AsyncIterator[BotEndpoint]:
    async with running_bot() as endpoint:
        yield endpoint


async def engaged_campaign(database: Database, contact_id: int) -> int | None:
    async with database.read_session() as session:
        return (await session.execute(
            select(Engagement.campaign_id).where(Engagement.contact_id == contact_id)
        )).scalar_one_or_none()


class TestChangedNumber:
    async def test_the_contact_moves_to_its_new_number_and_keeps_everything(
        self, app: FastAPI, client: AsyncClient, database: Database, org: OrgHandle, bot: BotEndpoint
    ) -> None:
        setup = await alice_campaign(app, database, org.id, bot)
        await receive(client, database, "system_changed_number.json")
        await deliver(app, database)
        moved = await contact(database, setup.alice)
        assert moved.phone == NEW_PHONE
        assert await engaged_campaign(database, setup.alice) == setup.campaign_id
        answer = await client.get(f"/api/v1/contacts/{setup.alice}", headers=org.auth)
        assert answer.json()["phone"] == NEW_PHONE and answer.json()["tags"] == ["vip"]
        assert answer.json()["valued_tags"] == {"customer_id": "8812"} and answer.json()["merge_needed"] == []
        [(kind, detail)] = await contact_events(database, setup.alice)
        assert kind == "number_changed" and (detail["old_phone"], detail["new_phone"]) == (ALICE, NEW_PHONE)
        # not a reply; the bot hears of it with the contact as it is now
        assert (await stats(database, setup.campaign_id))["replied"] == 0
        [event] = bot.accepted
        assert event.document["type"] == "contact.system" and event.document["contact"]["phone"] == NEW_PHONE
        # what the contact writes from the new number answers the campaign
        await receive(client, database, "text_from_new_number.json")
        await deliver(app, database)
        assert (await stats(database, setup.campaign_id))["replied"] == 1
        assert (await campaign_message(database, setup.campaign_id)).replied_at is not None
        assert (await inbound_rows(database))["wamid.in.fromnew"].contact_id == setup.alice
        assert bot.accepted[-1].document["contact"]["id"] == setup.alice

    async def test_a_number_another_contact_has_changes_nothing_and_asks_for_a_merge_on_both(
        self, app: FastAPI, client: AsyncClient, database: Database, org: OrgHandle
    ) -> None:
        setup = await alice_campaign(app, database, org.id)
        await receive(client, database, "system_changed_number_taken.json")
        assert (await contact(database, setup.alice)).phone == ALICE
        assert (await contact(database, setup.bob)).phone == BOB
        alice = (await client.get(f"/api/v1/contacts/{setup.alice}", headers=org.auth)).json()
        bob = (await client.get(f"/api/v1/contacts/{setup.bob}", headers=org.auth)).json()
        [alice_merge] = alice["merge_needed"]
        [bob_merge] = bob["merge_needed"]
        assert (alice_merge["contact_id"], alice_merge["phone"]) == (setup.bob, BOB)
        assert (bob_merge["contact_id"], bob_merge["phone"]) == (setup.alice, ALICE)
        assert BOB in alice_merge["reason"] and "changed number" in alice_merge["reason"]
        assert BOB in bob_merge["reason"] and "changed number" in bob_merge["reason"]
        # on both contacts' pages too, and in the list
        listed = (await client.get("/api/v1/contacts", headers=org.auth)).json()["items"]
        assert {c["id"]: len(c["merge_needed"]) for c in listed} == {setup.alice: 1, setup.bob: 1}
        # once a person merges them (deletes one), the other no longer asks
        assert (await client.delete(f"/api/v1/contacts/{setup.bob}", headers=org.auth)).status_code == 204
        assert (await client.get(f"/api/v1/contacts/{setup.alice}", headers=org.auth)).json()["merge_needed"] == []

    async def test_an_identity_change_is_recorded_on_the_contact(
        self, app: FastAPI, client: AsyncClient, database: Database, org: OrgHandle
    ) -> None:
        setup = await alice_campaign(app, database, org.id)
        await receive(client, database, "system_identity_changed.json")
        [(kind, detail)] = await contact_events(database, setup.alice)
        assert kind == "identity_changed" and detail["identity"]["hash"] == "Sjvjlx8G6Z0="
        assert (await contact(database, setup.alice)).phone == ALICE

    async def test_a_new_business_scoped_user_id_replaces_the_old_one(
        self, app: FastAPI, client: AsyncClient, database: Database, org: OrgHandle
    ) -> None:
        setup = await alice_campaign(app, database, org.id, alice_user_id="US.13491208655302741918")
        await receive(client, database, "system_changed_user_id.json")
        assert (await contact(database, setup.alice)).wa_user_id == "US.90000000000000000001"
        [(kind, detail)] = await contact_events(database, setup.alice)
        assert kind == "user_id_changed" and detail["previous_user_id"] == "US.13491208655302741918"
        assert (await inbound_rows(database))["wamid.in.userid"].contact_id == setup.alice
