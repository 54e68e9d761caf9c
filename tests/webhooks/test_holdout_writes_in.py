"""A held-out contact who writes in on their own: the message answers nothing we sent, so its status
and the counters stay as they are, and the campaign's bot still hears it (its funnel steps count
towards the holdout's conversion)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from fastapi import FastAPI
from httpx import AsyncClient
from sqlalchemy import update

from herald.campaigns import counters
from herald.kit.db import Database
from herald.models import CampaignMessage
from tests.conftest import OrgHandle
from tests.dispatch.helpers import stats
from tests.replies.helpers import BotEndpoint
from tests.webhooks.inbound_setup import alice_campaign, campaign_message, deliver, receive, running_bot


@pytest.fixture
async def bot() -> AsyncIterator[BotEndpoint]:
    async with running_bot() as endpoint:
        yield endpoint


async def test_a_held_out_contact_writing_in_stays_held_out_and_reaches_the_bot(
    app: FastAPI, client: AsyncClient, database: Database, org: OrgHandle, bot: BotEndpoint
) -> None:
    setup = await alice_campaign(app, database, org.id, bot)
    async with database.session() as session:
        await session.execute(update(CampaignMessage).where(CampaignMessage.campaign_id == setup.campaign_id)
                              .values(status="holdout", wamid=None, sent_at=None))
        await counters.add(session, campaign_id=setup.campaign_id, sent=-1, holdout=1)

    await receive(client, database, "text_referral.json")
    await deliver(app, database)

    message = await campaign_message(database, setup.campaign_id)
    assert (message.status, message.replied_at, message.delivered_at) == ("holdout", None, None)
    counted = await stats(database, setup.campaign_id)
    assert (counted["holdout"], counted["sent"], counted["received"], counted["replied"]) == (1, 0, 0, 0)
    assert [event.document["contact"]["id"] for event in bot.accepted] == [setup.alice]
