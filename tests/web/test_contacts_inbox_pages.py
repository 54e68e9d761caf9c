"""The contacts pages (total, previous and next pages, adding and deleting one contact, tags in bulk
with a confirmation, the contact's campaigns) and the Replies pages, over the ASGI app."""

from __future__ import annotations

import html
import re

from fastapi import FastAPI
from httpx import AsyncClient

from herald.auth.principal import Role
from herald.kit.db import Database
from tests.conftest import OrgHandle
from tests.factories import make_contacts
from tests.replies.test_replies_list import bob_writes
from tests.web.conftest import Browser
from tests.web.helpers import page_csrf
from tests.webhooks.inbound_setup import alice_campaign, deliver, receive, running_bot

API = "/api/v1"


def text_of(page: str) -> str:
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page)))


class TestContactsList:
    async def test_total_and_previous_and_next_pages(
        self, database: Database, org: OrgHandle, browser: Browser
    ) -> None:
        await make_contacts(database, org_id=org.id, specs=[
            {"phone": f"+1415555{1000 + i}", "name": f"Vip {i:03}", "tags": ["vip"]} for i in range(120)])
        viewer = await browser(Role.viewer)

        first = (await viewer.get("/ui/contacts?tag=vip")).text
        assert "120 contacts match this search." in text_of(first)
        assert "Vip 000" in first and "Vip 050" not in first and "Previous page" not in first
        second_url = html.unescape(re.search(r'href="([^"]+)">Next page', first).group(1))  # type: ignore[union-attr]
        second = (await viewer.get(second_url)).text
        assert "Vip 050" in second and "Vip 000" not in second
        back_url = html.unescape(re.search(r'href="([^"]+)">Previous page', second).group(1))  # type: ignore[union-attr]
        back = (await viewer.get(back_url)).text
        assert "Vip 000" in back and "Vip 049" in back and "Vip 050" not in back
        assert "Previous page" not in back
        assert 'id="bulk-form"' not in first and 'id="add-contact-form"' not in first  # a viewer changes nothing

    async def test_adding_a_contact_and_a_mistake_kept_next_to_its_field(
        self, client: AsyncClient, org: OrgHandle, browser: Browser
    ) -> None:
        editor = await browser(Role.editor)
        token = await page_csrf(editor, "/ui/contacts")

        wrong = await editor.post("/ui/contacts", data={"csrf_token": token, "phone": "12", "name": "Zoé",
                                                        "tags": "vip, spring"})
        assert wrong.status_code == 422
        assert 'id="phone-error"' in wrong.text and 'value="Zoé"' in wrong.text and 'value="vip, spring"' in wrong.text
        added = await editor.post("/ui/contacts", data={"csrf_token": token, "phone": "+33 6 12 34 56 78",
                                                        "name": "Zoé", "tags": "vip, spring"})
        assert added.status_code == 303
        [contact] = (await client.get(f"{API}/contacts", headers=org.auth)).json()["items"]
        assert (contact["phone"], contact["name"], contact["tags"]) == ("+33612345678", "Zoé", ["spring", "vip"])
        assert added.headers["location"] == f"/ui/contacts/{contact['id']}"
        again = await editor.post("/ui/contacts", data={"csrf_token": token, "phone": "+33612345678"})
        assert again.status_code == 422 and "already exists" in html.unescape(again.text)

    async def test_bulk_tags_on_a_search_result_ask_with_the_count_first(
        self, client: AsyncClient, database: Database, org: OrgHandle, browser: Browser
    ) -> None:
        await make_contacts(database, org_id=org.id, specs=[
            {"phone": f"+1415555{1000 + i}", "name": f"Vip {i}", "tags": ["vip"]} for i in range(60)
        ] + [{"phone": "+14155559999", "name": "Other"}])
        editor = await browser(Role.editor)
        token = await page_csrf(editor, "/ui/contacts?tag=vip")
        form = {"csrf_token": token, "bulk_tags": "spring", "change": "add", "scope": "search", "q": "", "tag": "vip"}

        asked = await editor.post("/ui/contacts/bulk-tags", data=form)
        assert asked.status_code == 200
        assert "Add spring to 60 contacts matching this search with tag vip, not only the page shown?" in text_of(asked.text)
        assert (await client.get(f"{API}/contacts?tag=spring&total=true", headers=org.auth)).json()["total"] == 0

        done = await editor.post("/ui/contacts/bulk-tags", data={**form, "confirmed": "true"})
        assert done.status_code == 303 and done.headers["location"] == "/ui/contacts?tag=vip"
        assert (await client.get(f"{API}/contacts?tag=spring&total=true", headers=org.auth)).json()["total"] == 60
        shown = (await editor.get(done.headers["location"])).text
        assert "Added “spring” to 60 contacts (60 tags added)." in html.unescape(shown)

    async def test_bulk_tags_on_the_contacts_ticked(
        self, client: AsyncClient, database: Database, org: OrgHandle, browser: Browser
    ) -> None:
        ids = await make_contacts(database, org_id=org.id, specs=[
            {"phone": f"+1415555{1000 + i}", "tags": ["vip", "old"]} for i in range(3)])
        editor = await browser(Role.editor)
        token = await page_csrf(editor, "/ui/contacts")
        form = {"csrf_token": token, "bulk_tags": "old", "change": "remove", "scope": "selected",
                "contact_id": [str(ids[0]), str(ids[2])]}

        asked = await editor.post("/ui/contacts/bulk-tags", data=form)
        assert "Remove old from 2 contacts ticked on the page?" in text_of(asked.text)
        await editor.post("/ui/contacts/bulk-tags", data={**form, "confirmed": "true"})
        tags = {c["id"]: c["tags"] for c in (await client.get(f"{API}/contacts", headers=org.auth)).json()["items"]}
        assert tags == {ids[0]: ["vip"], ids[1]: ["old", "vip"], ids[2]: ["vip"]}
        nothing = await editor.post("/ui/contacts/bulk-tags", data={**form, "contact_id": []})
        assert nothing.status_code == 303
        assert "Tick the contacts" in html.unescape((await editor.get(nothing.headers["location"])).text)


class TestContactPage:
    async def test_campaigns_replies_opt_out_and_deletion(
        self, app: FastAPI, client: AsyncClient, database: Database, org: OrgHandle, browser: Browser
    ) -> None:
        setup = await alice_campaign(app, database, org.id)
        await receive(client, database, "text_reply.json", "text_stop.json")
        editor = await browser(Role.editor)

        page = (await editor.get(f"/ui/contacts/{setup.alice}")).text
        shown = text_of(page)
        assert "Engaged in Spring (Active) since" in shown
        assert re.search(r"Opted out of marketing since .*: replied ", shown)
        history = text_of(page.split('id="campaign-history"')[1].split("</table>")[0])
        assert "Spring" in history and "delivered" in history and "Does it come in another color?" in history
        assert "It is engaged in “Spring” (Active): its message not sent yet will be counted as not sent." in html.unescape(page)

        token = await page_csrf(editor, f"/ui/contacts/{setup.alice}")
        deleted = await editor.post(f"/ui/contacts/{setup.alice}/delete", data={"csrf_token": token})
        assert deleted.status_code == 303 and deleted.headers["location"] == "/ui/contacts"
        assert (await client.get(f"{API}/contacts/{setup.alice}", headers=org.auth)).status_code == 404
        assert "Contact Alice deleted." in (await editor.get("/ui/contacts")).text
        bob = text_of((await editor.get(f"/ui/contacts/{setup.bob}")).text)
        assert "Not engaged" in bob and "Not opted out" in bob and "No campaign has messaged this contact yet." in bob

    async def test_a_viewer_cannot_delete(self, database: Database, org: OrgHandle, browser: Browser) -> None:
        [contact] = await make_contacts(database, org_id=org.id, specs=[{"phone": "+14155550101"}])
        viewer = await browser(Role.viewer)
        token = await page_csrf(viewer, f"/ui/contacts/{contact}")
        assert "Delete contact" not in (await viewer.get(f"/ui/contacts/{contact}")).text
        assert (await viewer.post(f"/ui/contacts/{contact}/delete", data={"csrf_token": token})).status_code == 403


class TestRepliesPages:
    async def test_organization_and_campaign_pages_with_an_unrouted_reply(
        self, app: FastAPI, client: AsyncClient, database: Database, org: OrgHandle, browser: Browser
    ) -> None:
        async with running_bot() as bot:
            bot.failing = True
            setup = await alice_campaign(app, database, org.id, bot)
            await receive(client, database, "text_reply.json")
            await deliver(app, database)
        await bob_writes(client, database, "Hello? <b>Anyone</b> there?")
        viewer = await browser(Role.viewer)

        page = (await viewer.get("/ui/replies")).text
        assert 'aria-current="page">Replies' in page
        assert "Hello? &lt;b&gt;Anyone&lt;/b&gt; there?" in page  # escaped
        rows = page.split("<tbody>")[1]
        assert rows.index('data-routing="no_campaign"') < rows.index('data-routing="bot_pending"')  # newest first
        shown = text_of(page)
        assert "No running campaign: kept, not forwarded" in shown
        assert "Bot not reached yet: retrying" in shown and "the bot flow answered HTTP 503" in shown

        campaign = text_of((await viewer.get(f"/ui/campaigns/{setup.campaign_id}/replies")).text)
        assert "Replies to Spring" in campaign and "Does it come in another color?" in campaign
        assert "Anyone" not in campaign
        unrouted = text_of((await viewer.get("/ui/replies?unrouted=true")).text)
        assert "Anyone" in unrouted and "another color" in unrouted  # the bot has not accepted it yet
        searched = text_of((await viewer.get("/ui/replies?q=color")).text)
        assert "another color" in searched and "Anyone" not in searched
        assert "Replies" in (await viewer.get(f"/ui/campaigns/{setup.campaign_id}/stats")).text
        assert (await viewer.get("/ui/campaigns/999999/replies")).status_code == 404
