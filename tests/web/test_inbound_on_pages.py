"""What inbound messages leave on the pages people look at: the contact's page lists every message
(replies or not, with Meta's errors), the merge to do on both contacts, why a contact is opted out;
the Numbers page shows errors Meta reported for a number; Settings shows and saves the keywords.
Payloads: tests/webhooks/payloads/inbound (each names its source)."""

from __future__ import annotations

import html

from fastapi import FastAPI
from httpx import AsyncClient

from herald.auth.principal import Role
from herald.kit.db import Database
from tests.conftest import OrgHandle
from tests.web.conftest import Browser
from tests.web.helpers import page_csrf
from tests.webhooks.inbound_setup import BOB, alice_campaign, receive


class TestInboundOnPages:
    async def test_the_contact_page_shows_messages_errors_merges_and_opt_out(
        self, app: FastAPI, client: AsyncClient, database: Database, org: OrgHandle, browser: Browser
    ) -> None:
        setup = await alice_campaign(app, database, org.id)
        await receive(client, database, "unsupported.json", "system_changed_number_taken.json", "text_stop.json",
                      "unreaction_empty.json")
        viewer = await browser(Role.viewer)
        page = html.unescape((await viewer.get(f"/ui/contacts/{setup.alice}")).text)
        assert "Merge needed" in page and f"changed number to {BOB}" in page
        assert "unsupported by WhatsApp" in page and "131051 Message type unknown" in page
        assert "reaction removed" in page and "replied STOP" in page
        other = html.unescape((await viewer.get(f"/ui/contacts/{setup.bob}")).text)
        assert "Merge needed" in other and f"/ui/contacts/{setup.alice}" in other
        assert (await viewer.get("/ui/contacts")).text.count("merge needed") == 2

    async def test_the_numbers_page_shows_errors_meta_reported_for_the_number(
        self, app: FastAPI, client: AsyncClient, database: Database, org: OrgHandle, browser: Browser
    ) -> None:
        await alice_campaign(app, database, org.id)
        await receive(client, database, "value_errors.json")
        page = html.unescape((await (await browser(Role.viewer)).get("/ui/numbers")).text)
        assert "Errors WhatsApp reported for" in page
        assert "131042" in page and "There was an error related to your payment method." in page

    async def test_an_admin_saves_the_keywords_on_the_settings_page(
        self, client: AsyncClient, org: OrgHandle, browser: Browser
    ) -> None:
        admin = await browser(Role.admin)
        token = await page_csrf(admin, "/ui/settings")
        saved = await admin.post("/ui/settings/keywords", data={
            "csrf_token": token, "opt_out_keywords": "Stop, Cancelar", "opt_in_keywords": "Volver"})
        assert saved.status_code == 303
        assert (await client.get("/api/v1/settings", headers=org.auth)).json() == {
            "opt_out_keywords": ["Stop", "Cancelar"], "opt_in_keywords": ["Volver"],
            "frequency_cap_messages": None, "frequency_cap_days": None}
        viewer_page = (await (await browser(Role.viewer)).get("/ui/settings")).text
        assert "Stop, Cancelar" in viewer_page and "Volver" in viewer_page
