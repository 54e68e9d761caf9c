"""Opt-out keywords (docs/whatsapp.md, "Opt-out keywords"): a reply whose whole text is a keyword of
the organization opts the contact out of marketing as Meta's user_preferences stop does, with the
reason kept, and still reaches the bot; START opts back in. Configurable per organization through
/api/v1/settings. Payloads: tests/webhooks/payloads/inbound (each names its source)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from fastapi import FastAPI
from httpx import AsyncClient

from herald.auth.principal import Role
from herald.dispatch.materialize import materialize_job
from herald.kit.db import Database
from tests.conftest import OrgHandle
from tests.dispatch.helpers import messages, stats
from tests.factories import make_active_campaign
from tests.replies.helpers import BotEndpoint
from tests.webhooks.inbound_setup import (
    alice_campaign,
    contact,
    contact_events,
    deliver,
    receive,
    running_bot,
)


@pytest.fixture
async def bot() -> AsyncIterator[BotEndpoint]:
    async with running_bot() as endpoint:
        yield endpoint


async def opted_out(client: AsyncClient, org: OrgHandle, contact_id: int) -> tuple[bool, str | None]:
    body = (await client.get(f"/api/v1/contacts/{contact_id}", headers=org.auth)).json()
    return body["opted_out"], body["opted_out_reason"]


class TestOptOutKeywords:
    @pytest.mark.parametrize(("name", "word"), [("text_stop.json", "STOP"), ("text_baja_accented.json", "BAJA")])
    async def test_a_keyword_reply_opts_out_is_counted_and_still_reaches_the_bot(
        self, app: FastAPI, client: AsyncClient, database: Database, org: OrgHandle, bot: BotEndpoint,
        name: str, word: str,
    ) -> None:
        setup = await alice_campaign(app, database, org.id, bot)
        await receive(client, database, name)
        await deliver(app, database)
        assert await opted_out(client, org, setup.alice) == (True, f"replied {word}")
        [(kind, detail)] = await contact_events(database, setup.alice)
        assert kind == "opted_out" and detail["keyword"] == word
        assert (await stats(database, setup.campaign_id))["replied"] == 1
        [received] = bot.accepted
        assert received.document["type"] == "campaign.reply"
        # the next campaign leaves the contact out, as after Meta's stop
        await client.post(f"/api/v1/campaigns/{setup.campaign_id}/end", headers=org.auth)
        later = await make_active_campaign(database, org_id=org.id, number_id=setup.number_id,
                                           audience={"tags_any": ["vip"]}, variables={}, media_row_id=None,
                                           bot_flow_id=None, name="Later")
        await materialize_job(database, {"campaign_id": later})
        left_out = (await messages(database, later))[setup.alice]
        assert (left_out.status, left_out.error_msg) == ("not_sent", "contact opted out of marketing")

    async def test_a_keyword_inside_a_longer_message_is_only_a_reply(
        self, app: FastAPI, client: AsyncClient, database: Database, org: OrgHandle
    ) -> None:
        setup = await alice_campaign(app, database, org.id)
        await receive(client, database, "text_stop_in_a_sentence.json")
        assert await opted_out(client, org, setup.alice) == (False, None)
        assert (await stats(database, setup.campaign_id))["replied"] == 1

    async def test_start_opts_back_in(
        self, app: FastAPI, client: AsyncClient, database: Database, org: OrgHandle
    ) -> None:
        setup = await alice_campaign(app, database, org.id)
        await receive(client, database, "text_stop.json", "text_start.json")
        assert await opted_out(client, org, setup.alice) == (False, None)
        assert [k for k, _ in await contact_events(database, setup.alice)] == ["opted_out", "opted_in"]

    async def test_an_organization_sets_its_own_keywords(
        self, app: FastAPI, client: AsyncClient, database: Database, org: OrgHandle
    ) -> None:
        setup = await alice_campaign(app, database, org.id)
        defaults = (await client.get("/api/v1/settings", headers=org.headers(Role.viewer))).json()
        assert defaults == {"opt_out_keywords": ["STOP", "BAJA", "PARAR", "UNSUBSCRIBE", "SAIR"],
                            "opt_in_keywords": ["START"], "frequency_cap_messages": None,
                            "frequency_cap_days": None}
        answer = await client.patch("/api/v1/settings", headers=org.auth, json={"opt_out_keywords": ["Cancelar"]})
        assert answer.status_code == 200 and answer.json()["opt_out_keywords"] == ["Cancelar"]
        await receive(client, database, "text_stop.json")  # STOP is no longer one of them
        assert await opted_out(client, org, setup.alice) == (False, None)
        assert (await contact(database, setup.alice)).opted_out_at is None

    @pytest.mark.parametrize(("body", "field"), [
        ({"opt_out_keywords": ["STOP", "  "]}, "opt_out_keywords.1"),
        ({"opt_out_keywords": ["x" * 41]}, "opt_out_keywords.0"),
        ({"opt_in_keywords": ["stop"]}, "opt_in_keywords"),
    ])
    async def test_bad_keywords_are_refused_naming_the_field(
        self, client: AsyncClient, org: OrgHandle, body: dict[str, list[str]], field: str
    ) -> None:
        answer = await client.patch("/api/v1/settings", headers=org.auth, json=body)
        assert answer.status_code == 422
        assert answer.json()["error"]["details"][0]["field"] == field

    async def test_only_an_admin_changes_them(self, client: AsyncClient, org: OrgHandle) -> None:
        answer = await client.patch("/api/v1/settings", headers=org.headers(Role.editor),
                                    json={"opt_out_keywords": ["NO"]})
        assert answer.status_code == 403
