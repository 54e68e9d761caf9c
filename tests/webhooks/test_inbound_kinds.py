"""What counts as a reply (docs/whatsapp.md, "Inbound messages: what is a reply"): Meta-shaped
payloads (tests/webhooks/payloads/inbound, each naming its source) through /webhooks/whatsapp and
the applier, then what a user sees: the campaign's replied count, the message's replied_at, what
the bot flow received, and the message kept whole on the contact."""

from __future__ import annotations

from collections.abc import AsyncIterator

import orjson
import pytest
from fastapi import FastAPI
from httpx import AsyncClient

from herald.kit.db import Database
from tests.conftest import OrgHandle
from tests.dispatch.helpers import stats
from tests.replies.helpers import BotEndpoint
from tests.webhooks.inbound_setup import (
    alice_campaign,
    campaign_message,
    deliver,
    inbound_rows,
    payload,
    receive,
    running_bot,
)


@pytest.fixture
async def bot() -> AsyncIterator[BotEndpoint]:
    async with running_bot() as endpoint:
        yield endpoint


def sent_message(name: str) -> dict[str, object]:
    """The message object of a payload file, as Meta sent it."""
    message: dict[str, object] = orjson.loads(payload(name))["entry"][0]["changes"][0]["value"]["messages"][0]
    return message


REPLIES = [
    "text_reply.json", "text_referral.json", "button_reply.json", "interactive_nfm_reply.json", "image.json",
    "location.json", "contacts.json", "order.json", "reaction.json",
]
# file → the event type the bot flow receives (None: not forwarded)
NOT_REPLIES = {
    "unreaction_empty.json": "reaction.removed",
    "unreaction_no_emoji.json": "reaction.removed",
    "revoke.json": "message.deleted",
    "edit.json": "message.edited",
    "system_identity_changed.json": "contact.system",
    "unsupported.json": None,
    "interactive_with_value_errors.json": None,
    "request_welcome.json": None,
}


class TestWhatIsAReply:
    @pytest.mark.parametrize("name", REPLIES)
    async def test_a_users_own_message_is_a_reply_and_the_bot_gets_it_whole(
        self, app: FastAPI, client: AsyncClient, database: Database, org: OrgHandle, bot: BotEndpoint, name: str
    ) -> None:
        setup = await alice_campaign(app, database, org.id, bot)
        await receive(client, database, name)
        await deliver(app, database)
        assert (await stats(database, setup.campaign_id))["replied"] == 1
        assert (await campaign_message(database, setup.campaign_id)).replied_at is not None
        [received] = bot.accepted
        body = received.document
        sent = sent_message(name)
        assert body["type"] == "campaign.reply"
        assert body["whatsapp"] == sent  # the message exactly as Meta sent it
        # Herald's own fields stay as they were
        assert body["campaign"]["id"] == setup.campaign_id
        assert body["contact"] == {"id": setup.alice, "phone": "+14155557001", "wa_user_id": None, "name": "Alice", "tags": ["vip"],
                                   "valued_tags": {"customer_id": "8812"}}
        assert body["message"]["id"] == sent["id"] and body["message"]["type"] == sent["type"]
        assert (await inbound_rows(database))[str(sent["id"])].payload["raw"] == sent

    @pytest.mark.parametrize("name", sorted(NOT_REPLIES))
    async def test_other_messages_are_kept_and_never_count_as_replies(
        self, app: FastAPI, client: AsyncClient, database: Database, org: OrgHandle, bot: BotEndpoint, name: str
    ) -> None:
        setup = await alice_campaign(app, database, org.id, bot)
        await receive(client, database, name)
        await deliver(app, database)
        assert (await stats(database, setup.campaign_id))["replied"] == 0
        message = await campaign_message(database, setup.campaign_id)
        assert message.replied_at is None and message.status == "sent"
        sent = sent_message(name)
        stored = (await inbound_rows(database))[str(sent["id"])]
        assert stored.contact_id == setup.alice and stored.payload["raw"] == sent
        event = NOT_REPLIES[name]
        if event is None:
            assert bot.accepted == []
        else:
            [received] = bot.accepted
            assert received.document["type"] == event and received.document["whatsapp"] == sent

    async def test_a_reaction_then_its_removal_counts_once(
        self, app: FastAPI, client: AsyncClient, database: Database, org: OrgHandle, bot: BotEndpoint
    ) -> None:
        setup = await alice_campaign(app, database, org.id, bot)
        await receive(client, database, "reaction.json", "unreaction_empty.json")
        await deliver(app, database)
        assert (await stats(database, setup.campaign_id))["replied"] == 1
        assert [r.document["type"] for r in bot.accepted] == ["campaign.reply", "reaction.removed"]

    async def test_errors_of_a_message_and_of_its_value_are_kept_with_it(
        self, app: FastAPI, client: AsyncClient, database: Database, org: OrgHandle
    ) -> None:
        await alice_campaign(app, database, org.id)
        await receive(client, database, "unsupported.json", "interactive_with_value_errors.json")
        rows = await inbound_rows(database)
        assert [e["code"] for e in rows["wamid.in.unsupported"].payload["errors"]] == [131051]
        assert [e["code"] for e in rows["wamid.in.broken"].payload["errors"]] == [131000]
