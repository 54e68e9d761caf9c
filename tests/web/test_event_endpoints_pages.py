"""Settings → Event endpoints on the pages: admins add, edit (the secret again for a new URL), test and
delete endpoints and read the delivery log; the secret never comes back; other roles are refused."""

from __future__ import annotations

import html
from collections.abc import AsyncIterator

import pytest
from fastapi import FastAPI

from herald.auth.principal import Role
from herald.events.delivery import EventDeliverer
from herald.kit.db import Database
from tests.conftest import LOOPBACK_ALLOWED, OrgHandle
from tests.events.receiver import RECEIVER_SECRET, EventReceiver
from tests.web.conftest import Browser
from tests.web.helpers import page_csrf

PAGE = "/ui/settings/event-endpoints"


@pytest.fixture
async def receiver() -> AsyncIterator[EventReceiver]:
    endpoint = EventReceiver()
    await endpoint.start()
    yield endpoint
    await endpoint.stop()


class TestEventEndpointPages:
    async def test_an_admin_adds_tests_and_reads_the_log_and_the_secret_never_shows(
        self, app: FastAPI, browser: Browser, database: Database, org: OrgHandle, receiver: EventReceiver
    ) -> None:
        admin = await browser(Role.admin)
        token = await page_csrf(admin, PAGE)
        refused = await admin.post(PAGE, data={"csrf_token": token, "url": receiver.url, "secret": RECEIVER_SECRET,
                                               "description": "<b>CRM</b>"})
        assert refused.status_code == 422  # no event type chosen
        assert "&lt;b&gt;CRM&lt;/b&gt;" in refused.text and "<b>CRM</b>" not in refused.text
        saved = await admin.post(PAGE, data={"csrf_token": token, "url": receiver.url, "secret": RECEIVER_SECRET,
                                             "description": "<b>CRM</b>",
                                             "event_types": ["message.read", "campaign.ended"]})
        assert saved.status_code == 303
        listing = await admin.get(PAGE)
        assert receiver.url in listing.text and "campaign.ended, message.read" in listing.text
        assert RECEIVER_SECRET not in listing.text
        endpoint_id = int(listing.text.split(f"{PAGE}/", 1)[1].split("/", 1)[0])

        queued = await admin.post(f"{PAGE}/{endpoint_id}/test", data={"csrf_token": token})
        assert queued.status_code == 303
        await EventDeliverer(database=database, box=app.state.secret_box, outbound=LOOPBACK_ALLOWED).deliver_due()
        (event,) = receiver.events.values()
        log = html.unescape((await admin.get(f"{PAGE}/{endpoint_id}/deliveries")).text)
        assert event["id"] in log and "endpoint.test" in log and "delivered" in log and ">200<" in log

        edit = await admin.get(f"{PAGE}?edit={endpoint_id}")
        assert RECEIVER_SECRET not in edit.text
        moved = await admin.post(f"{PAGE}/{endpoint_id}", data={
            "csrf_token": token, "url": receiver.url + "/v2", "event_types": ["message.read"]})
        assert moved.status_code == 422 and "secret" in html.unescape(moved.text).lower()
        deleted = await admin.post(f"{PAGE}/{endpoint_id}/delete", data={"csrf_token": token})
        assert deleted.status_code == 303
        assert receiver.url not in (await admin.get(PAGE)).text

    @pytest.mark.parametrize("role", [Role.editor, Role.viewer])
    async def test_other_roles_cannot_open_the_pages(self, browser: Browser, org: OrgHandle, role: Role) -> None:
        user = await browser(role)
        assert (await user.get(PAGE)).status_code == 403
        token = await page_csrf(user, "/ui/settings")
        answer = await user.post(PAGE, data={"csrf_token": token, "url": "https://x.example.com", "secret": "s" * 20,
                                             "event_types": ["message.read"]})
        assert answer.status_code == 403
