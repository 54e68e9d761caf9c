"""The frequency cap on the pages: the Settings form, the admin-only exemption in the campaign's first
step, and the stats page's note (campaigns/frequency_cap.py)."""

from __future__ import annotations

import html
from datetime import timedelta

from sqlalchemy import select

from herald.auth.principal import Role
from herald.kit.db import Database
from herald.kit.types import utcnow
from herald.models import Campaign, CampaignMessage, Contact, Organization
from tests.conftest import OrgHandle
from tests.factories import WORLD_VIP_PHONE, make_world
from tests.web.conftest import Browser
from tests.web.helpers import csrf_of, page_csrf
from tests.web.test_access import ready_campaign


async def cap_of(database: Database, org_id: int) -> tuple[int | None, int | None]:
    async with database.read_session() as session:
        org = await session.get(Organization, org_id)
        assert org is not None
        return org.frequency_cap_messages, org.frequency_cap_days


class TestSettingsForm:
    async def test_an_admin_sets_the_cap_and_a_wrong_value_is_shown_as_typed(
        self, browser: Browser, database: Database, org: OrgHandle
    ) -> None:
        admin = await browser(Role.admin)
        token = await page_csrf(admin, "/ui/settings")
        refused = await admin.post("/ui/settings/frequency-cap", data={
            "csrf_token": token, "frequency_cap_messages": "2", "frequency_cap_days": "a week"})
        assert refused.status_code == 422
        text = html.unescape(refused.text)
        assert 'value="a week"' in text and "enter a whole number" in text.lower()
        assert 'id="cap-days"' in text and 'aria-invalid="true"' in text.split('id="cap-days"', 1)[1].split(">", 1)[0]
        refused = await admin.post("/ui/settings/frequency-cap", data={
            "csrf_token": token, "frequency_cap_messages": "2", "frequency_cap_days": "400"})
        assert refused.status_code == 422 and "between 1 and 90" in refused.text
        assert await cap_of(database, org.id) == (None, None)

        saved = await admin.post("/ui/settings/frequency-cap", data={
            "csrf_token": token, "frequency_cap_messages": "2", "frequency_cap_days": "7"})
        assert saved.status_code == 303
        assert await cap_of(database, org.id) == (2, 7)
        page = (await admin.get("/ui/settings")).text
        assert 'name="frequency_cap_messages" type="text" inputmode="numeric" maxlength="20" value="2"' in page

        removed = await admin.post("/ui/settings/frequency-cap", data={
            "csrf_token": token, "frequency_cap_messages": "", "frequency_cap_days": ""})
        assert removed.status_code == 303 and await cap_of(database, org.id) == (None, None)

    async def test_an_editor_reads_it_and_cannot_change_it(
        self, browser: Browser, database: Database, org: OrgHandle
    ) -> None:
        admin, editor = await browser(Role.admin), await browser(Role.editor)
        token = await page_csrf(admin, "/ui/settings")
        await admin.post("/ui/settings/frequency-cap", data={
            "csrf_token": token, "frequency_cap_messages": "2", "frequency_cap_days": "7"})
        page = await editor.get("/ui/settings")
        assert "At most <strong>2</strong> marketing messages per contact in <strong>7</strong> days" in page.text
        assert 'name="frequency_cap_messages"' not in page.text
        refused = await editor.post("/ui/settings/frequency-cap", data={
            "csrf_token": csrf_of(page.text), "frequency_cap_messages": "9", "frequency_cap_days": "1"})
        assert refused.status_code == 403 and await cap_of(database, org.id) == (2, 7)


class TestExemption:
    async def test_only_admins_see_and_set_it(self, browser: Browser, database: Database, org: OrgHandle) -> None:
        world = await make_world(database, org.id)
        admin, editor = await browser(Role.admin), await browser(Role.editor)
        assert 'name="frequency_cap_exempt"' not in (await editor.get("/ui/campaigns/new")).text
        page = await admin.get("/ui/campaigns/new")
        assert 'name="frequency_cap_exempt"' in page.text
        created = await admin.post("/ui/campaigns/new", data={
            "csrf_token": csrf_of(page.text), "name": "Service notice", "whatsapp_number_id": str(world.number_id),
            "frequency_cap_exempt": "on"})
        assert created.status_code == 303
        async with database.read_session() as session:
            campaign = (await session.execute(select(Campaign).where(Campaign.name == "Service notice"))).scalar_one()
        assert campaign.frequency_cap_exempt
        # An editor saving the step keeps it (the field is not theirs to send).
        step = await editor.get(f"/ui/campaigns/{campaign.id}/edit/basics")
        saved = await editor.post(f"/ui/campaigns/{campaign.id}/edit/basics", data={
            "csrf_token": csrf_of(step.text), "name": "Service notice 2", "whatsapp_number_id": str(world.number_id)})
        assert saved.status_code == 303
        async with database.read_session() as session:
            assert (await session.get(Campaign, campaign.id, populate_existing=True)).frequency_cap_exempt  # type: ignore[union-attr]

    async def test_the_stats_page_says_a_campaign_is_exempt(
        self, browser: Browser, database: Database, org: OrgHandle
    ) -> None:
        viewer = await browser(Role.viewer)
        plain, exempt = await ready_campaign(database, org.id, "Spring"), await ready_campaign(database, org.id, "Notice")
        async with database.session() as session:
            (await session.get(Campaign, exempt)).frequency_cap_exempt = True  # type: ignore[union-attr]
        assert "exempt from the frequency cap" in (await viewer.get(f"/ui/campaigns/{exempt}/stats")).text
        assert "exempt from the frequency cap" not in (await viewer.get(f"/ui/campaigns/{plain}/stats")).text


class TestAudienceStep:
    async def test_the_audience_step_counts_contacts_at_the_cap(
        self, browser: Browser, database: Database, org: OrgHandle
    ) -> None:
        admin = await browser(Role.admin)
        token = await page_csrf(admin, "/ui/settings")
        await admin.post("/ui/settings/frequency-cap", data={
            "csrf_token": token, "frequency_cap_messages": "1", "frequency_cap_days": "7"})
        earlier, campaign = await ready_campaign(database, org.id, "Earlier"), await ready_campaign(database, org.id)
        async with database.session() as session:
            contact = (await session.execute(
                select(Contact.id).where(Contact.org_id == org.id, Contact.phone == WORLD_VIP_PHONE))).scalar_one()
            session.add(CampaignMessage(campaign_id=earlier, contact_id=contact, status="read", wamid="wamid.early",
                                        sent_at=utcnow() - timedelta(days=1)))
        page = (await admin.get(f"/ui/campaigns/{campaign}/edit/audience")).text
        assert "<tr><td>frequency cap reached (1 in 7 days)</td><td class=\"num\">1</td></tr>" in page
