"""The number's page: its Marketing Messages API settings, set by an editor, shown to a viewer."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from herald.auth.principal import Role
from herald.kit.db import Database
from tests.conftest import OrgHandle
from tests.factories import make_number
from tests.web.conftest import Browser
from tests.web.helpers import csrf_of

SETTINGS = ("marketing_messages_api", "marketing_messages_ttl_seconds", "marketing_messages_activity_sharing")


async def settings(client: httpx.AsyncClient, org: OrgHandle, number_id: int) -> tuple:
    body = (await client.get(f"/api/v1/whatsapp-numbers/{number_id}", headers=org.auth)).json()
    return tuple(body[name] for name in SETTINGS)


class TestMarketingMessagesForm:
    async def test_an_editor_turns_it_on_with_options_then_back_to_metas_defaults(
        self, app: FastAPI, client: httpx.AsyncClient, database: Database, org: OrgHandle, browser: Browser
    ) -> None:
        number_id = await make_number(database, app.state.secret_box, org_id=org.id)
        editor = await browser(Role.editor)
        page = await editor.get(f"/ui/numbers/{number_id}")
        assert page.status_code == 200 and 'id="mm-form"' in page.text
        url = f"/ui/numbers/{number_id}/marketing-messages"
        saved = await editor.post(url, data={
            "csrf_token": csrf_of(page.text), "marketing_messages_api": "on",
            "marketing_messages_ttl_seconds": "86400", "marketing_messages_activity_sharing": "off"})
        assert saved.status_code == 303 and saved.headers["location"] == f"/ui/numbers/{number_id}"
        assert await settings(client, org, number_id) == (True, 86_400, False)
        page = await editor.get(f"/ui/numbers/{number_id}")
        assert 'value="86400"' in page.text and '<option value="off" selected>' in page.text
        assert 'name="marketing_messages_api" type="checkbox" checked' in page.text

        # Unchecked box, empty time to live, default sharing: off, and Meta's defaults.
        await editor.post(url, data={"csrf_token": csrf_of(page.text), "marketing_messages_ttl_seconds": "",
                                     "marketing_messages_activity_sharing": ""})
        assert await settings(client, org, number_id) == (False, None, None)

    async def test_a_time_to_live_out_of_metas_range_is_named_and_nothing_changes(
        self, app: FastAPI, client: httpx.AsyncClient, database: Database, org: OrgHandle, browser: Browser
    ) -> None:
        number_id = await make_number(database, app.state.secret_box, org_id=org.id)
        editor = await browser(Role.editor)
        page = await editor.get(f"/ui/numbers/{number_id}")
        for typed in ("3600", "<b>soon</b>"):
            refused = await editor.post(f"/ui/numbers/{number_id}/marketing-messages", data={
                "csrf_token": csrf_of(page.text), "marketing_messages_api": "on",
                "marketing_messages_ttl_seconds": typed})
            assert refused.status_code == 422
            assert 'id="marketing_messages_ttl_seconds-error"' in refused.text
            assert 'id="mm-ttl" name="marketing_messages_ttl_seconds"' in refused.text
            assert "<b>soon</b>" not in refused.text  # what was typed comes back escaped
        assert await settings(client, org, number_id) == (False, None, None)

    async def test_a_viewer_sees_the_settings_and_may_not_change_them(
        self, app: FastAPI, client: httpx.AsyncClient, database: Database, org: OrgHandle, browser: Browser
    ) -> None:
        number_id = await make_number(database, app.state.secret_box, org_id=org.id)
        await client.patch(f"/api/v1/whatsapp-numbers/{number_id}", json={
            "marketing_messages_api": True, "marketing_messages_ttl_seconds": 43_200}, headers=org.auth)
        viewer = await browser(Role.viewer)
        page = await viewer.get(f"/ui/numbers/{number_id}")
        assert 'id="mm-form"' not in page.text
        assert "<dt>Marketing Messages API</dt><dd>On</dd>" in page.text and "43200 seconds" in page.text
        refused = await viewer.post(f"/ui/numbers/{number_id}/marketing-messages",
                                    data={"csrf_token": csrf_of(page.text), "marketing_messages_api": ""})
        assert refused.status_code == 403
        assert await settings(client, org, number_id) == (True, 43_200, None)
