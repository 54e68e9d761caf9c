"""The stats page lists messages WhatsApp never answered about and sends them again on one click, saying who did."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update

from herald.auth.principal import Role
from herald.kit.db import Database
from herald.kit.types import utcnow
from herald.models import Campaign, CampaignMessage
from tests.conftest import OrgHandle
from tests.dispatch.test_takeoff import campaign_with, statuses_of
from tests.web.conftest import Browser
from tests.web.helpers import csrf_of


async def with_stale_unknowns(database: Database, org: OrgHandle, *, status: str = "active") -> tuple[int, list[int]]:
    campaign, ids, _ = await campaign_with(database, org, ["unknown", "unknown", "unknown", "sent"], status=status)
    async with database.session() as session:
        await session.execute(update(CampaignMessage).where(CampaignMessage.id.in_(ids[:2]))
                              .values(unknown_since=utcnow() - timedelta(hours=30)))
        await session.execute(update(CampaignMessage).where(CampaignMessage.id == ids[2])
                              .values(unknown_since=utcnow() - timedelta(hours=2)))
    return campaign, ids


class TestSendAgainPage:
    async def test_a_writer_sends_the_stale_ones_again_and_the_page_says_who(
        self, browser: Browser, database: Database, org: OrgHandle
    ) -> None:
        campaign, ids = await with_stale_unknowns(database, org)
        viewer = await browser(Role.viewer)
        page = await viewer.get(f"/ui/campaigns/{campaign}/stats")
        assert page.status_code == 200
        assert "No answer from WhatsApp" in page.text and "2 messages may have reached" in page.text
        assert "+14155550000" in page.text and "+14155550001" in page.text
        assert "+14155550002" not in page.text  # unknown for 2 hours only: WhatsApp may still answer
        assert "unknown/send-again" not in page.text  # a viewer cannot

        editor = await browser(Role.editor)
        page = await editor.get(f"/ui/campaigns/{campaign}/stats")
        assert "Send 2 again" in page.text
        done = await editor.post(f"/ui/campaigns/{campaign}/unknown/send-again", data={"csrf_token": csrf_of(page.text)},
                                 headers={"referer": f"http://herald.test/ui/campaigns/{campaign}/stats"})
        assert done.status_code == 303
        after = await editor.get(done.headers["location"])
        assert "2 messages will be sent again." in after.text
        assert "Sent again: 2 messages by editor-1@acme.test" in after.text
        assert "Send 2 again" not in after.text
        assert await statuses_of(database, ids) == ["pending", "pending", "unknown", "sent"]

    async def test_an_ended_campaign_shows_them_without_the_button(
        self, browser: Browser, database: Database, org: OrgHandle
    ) -> None:
        campaign, ids = await with_stale_unknowns(database, org)
        async with database.session() as session:
            await session.execute(update(Campaign).where(Campaign.id == campaign).values(status="ended", ended_at=utcnow()))
        editor = await browser(Role.editor)
        page = await editor.get(f"/ui/campaigns/{campaign}/stats")
        assert "2 messages may have reached" in page.text
        assert "Send 2 again" not in page.text and "cannot be sent again" in page.text
        refused = await editor.post(f"/ui/campaigns/{campaign}/unknown/send-again",
                                    data={"csrf_token": csrf_of(page.text)})
        assert refused.status_code == 303
        assert "active or paused" in (await editor.get(refused.headers["location"])).text
        assert await statuses_of(database, ids) == ["unknown", "unknown", "unknown", "sent"]
