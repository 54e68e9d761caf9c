"""Follow-ups on the pages: the parent's stats page counts each outcome before anything is created and
creates the follow-up from one form; the follow-up's pages say whose follow-up it is, with its
snapshot's size; the parent lists it (campaigns/followups.py)."""

from __future__ import annotations

import html
import re

from sqlalchemy import select

from herald.auth.principal import Role
from herald.kit.db import Database
from herald.kit.types import utcnow
from herald.models import Campaign, Engagement
from tests.campaigns.test_followups import ran_campaign
from tests.conftest import OrgHandle
from tests.factories import make_world
from tests.web.conftest import Browser
from tests.web.helpers import csrf_of


def options(page: str) -> dict[str, str]:
    """The follow-up form's choices: value → label."""
    form = page.split('id="followup-form"', 1)[1].split("</form>", 1)[0]
    return {html.unescape(v): html.unescape(label).strip()
            for v, label in re.findall(r'<option value="([^"]*)"[^>]*>([^<]*)</option>', form)}


class TestFollowUpForm:
    async def test_the_stats_page_counts_each_outcome_and_creates_the_follow_up(
        self, browser: Browser, database: Database, org: OrgHandle
    ) -> None:
        world = await make_world(database, org.id)
        parent = await ran_campaign(database, world)
        editor = await browser(Role.editor)
        page = (await editor.get(f"/ui/campaigns/{parent['id']}/stats")).text
        assert options(page) == {
            "not_delivered": "Not delivered — 2 contacts",
            "delivered_not_read": "Delivered, not read — 2 contacts",
            "read_not_replied": "Read, not replied — 1 contact",
            "replied_button:YES": "Replied with button “Yes please” (YES) — 1 contact",
            "replied_button:NO": "Replied with button “No thanks” (NO) — 1 contact",
            "reached_step:paid": "Reached step “paid” — 2 contacts",
            "not_reached_step:paid": "Did not reach step “paid” — 5 contacts",
        }
        created = await editor.post(f"/ui/campaigns/{parent['id']}/follow-ups", data={
            "csrf_token": csrf_of(page), "choice": "replied_button:YES", "name": ""})
        assert created.status_code == 303
        async with database.read_session() as session:
            child = (await session.execute(select(Campaign).where(Campaign.parent_campaign_id == parent["id"]))).scalar_one()
        assert created.headers["location"] == f"/ui/campaigns/{child.id}/edit/audience"
        step = html.unescape((await editor.get(created.headers["location"])).text)
        assert "created with 1 contact" in step
        lineage = step.split('id="followup-of"', 1)[1].split("</p>", 1)[0]
        assert f'<a href="/ui/campaigns/{parent["id"]}/stats">Spring sale</a>' in lineage
        assert "replied with button “YES”, 1 contact" in lineage
        # The audience step counts the snapshot, without any tag chosen.
        assert 'id="matched-count">1</strong>' in step and 'id="eligible-count">1</strong>' in step
        # The parent lists it, with its outcome and size.
        parent_page = html.unescape((await editor.get(f"/ui/campaigns/{parent['id']}/stats")).text)
        table = parent_page.split('id="followups-table"', 1)[1].split("</table>", 1)[0]
        assert f'/ui/campaigns/{child.id}/edit/review">Spring sale — replied with button “YES”</a>' in table
        assert "<td class=\"num\">1</td>" in table

    async def test_a_refusal_comes_back_to_the_stats_page_and_a_viewer_sees_no_form(
        self, browser: Browser, database: Database, org: OrgHandle
    ) -> None:
        world = await make_world(database, org.id)
        parent = await ran_campaign(database, world)
        editor, viewer = await browser(Role.editor), await browser(Role.viewer)
        page = (await editor.get(f"/ui/campaigns/{parent['id']}/stats")).text
        refused = await editor.post(f"/ui/campaigns/{parent['id']}/follow-ups", data={
            "csrf_token": csrf_of(page), "choice": "replied_button"})
        assert refused.status_code == 303 and refused.headers["location"] == f"/ui/campaigns/{parent['id']}/stats"
        shown = html.unescape((await editor.get(refused.headers["location"])).text)
        assert "needs the button" in shown
        assert 'id="followup-form"' not in (await viewer.get(f"/ui/campaigns/{parent['id']}/stats")).text
        forbidden = await viewer.post(f"/ui/campaigns/{parent['id']}/follow-ups", data={
            "csrf_token": csrf_of(page), "choice": "not_delivered"})
        assert forbidden.status_code in (403, 303)
        async with database.read_session() as session:
            assert not (await session.execute(select(Campaign.id).where(Campaign.parent_campaign_id == parent["id"]))).all()

    async def test_a_test_campaign_offers_no_follow_up(
        self, browser: Browser, database: Database, org: OrgHandle
    ) -> None:
        world = await make_world(database, org.id)
        test = await ran_campaign(database, world, kind="test")
        page = (await (await browser(Role.editor)).get(f"/ui/campaigns/{test['id']}/stats")).text
        assert 'id="followup-form"' not in page and 'id="followups"' not in page

    async def test_the_follow_ups_stats_page_names_its_parent(
        self, browser: Browser, database: Database, org: OrgHandle
    ) -> None:
        world = await make_world(database, org.id)
        parent = await ran_campaign(database, world)
        editor = await browser(Role.editor)
        page = (await editor.get(f"/ui/campaigns/{parent['id']}/stats")).text
        await editor.post(f"/ui/campaigns/{parent['id']}/follow-ups", data={
            "csrf_token": csrf_of(page), "choice": "not_delivered", "name": "Second try"})
        async with database.read_session() as session:
            child = (await session.execute(select(Campaign).where(Campaign.parent_campaign_id == parent["id"]))).scalar_one()
        assert child.name == "Second try"
        for path in (f"/ui/campaigns/{child.id}/stats", f"/ui/campaigns/{child.id}/edit/review"):
            text = html.unescape((await editor.get(path)).text)
            lineage = text.split('id="followup-of"', 1)[1].split("</p>", 1)[0]
            assert "Spring sale</a> — not delivered, 2 contacts" in lineage, path

    async def test_the_audience_step_warns_while_the_parent_still_engages_the_snapshot(
        self, browser: Browser, database: Database, org: OrgHandle
    ) -> None:
        world = await make_world(database, org.id)
        parent = await ran_campaign(database, world, status="active")
        async with database.session() as session:  # the running parent still holds its contacts
            for name in ("delivered", "delivered2", "read"):
                session.add(Engagement(contact_id=parent["contacts"][name], campaign_id=parent["id"], engaged_at=utcnow()))
        editor = await browser(Role.editor)
        page = (await editor.get(f"/ui/campaigns/{parent['id']}/stats")).text
        created = await editor.post(f"/ui/campaigns/{parent['id']}/follow-ups", data={
            "csrf_token": csrf_of(page), "choice": "delivered_not_read"})
        step = html.unescape((await editor.get(created.headers["location"])).text)
        assert 'id="matched-count">2</strong>' in step and 'id="eligible-count">0</strong>' in step
        warning = step.split('id="overlap-warning"', 1)[1].split("</div>", 1)[0]
        assert "2 of these contacts are in active campaign" in warning and "Spring sale" in warning
