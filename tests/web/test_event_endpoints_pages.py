"""Settings → Event endpoints on the pages: admins add, edit (the secret again for a new URL), test and
delete endpoints and read the delivery log; the secret never comes back; other roles are refused."""

from __future__ import annotations

import html
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from herald.auth.principal import Role
from herald.events.delivery import EventDeliverer
from herald.kit.db import Database
from tests.conftest import LOOPBACK_ALLOWED, OrgHandle
from tests.events.receiver import RECEIVER_SECRET, EventReceiver
from tests.events.test_batches import record_rounds
from tests.events.test_delivery import add_endpoint
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

    async def test_the_log_shows_a_batch_and_finds_it_by_any_event_id_and_escapes_what_was_typed(
        self, app: FastAPI, browser: Browser, client: httpx.AsyncClient, database: Database, org: OrgHandle,
        receiver: EventReceiver,
    ) -> None:
        admin = await browser(Role.admin)
        endpoint_id = await add_endpoint(client, org, receiver.url, types=["contact.opted_out"])
        await record_rounds(database, org.id, [3])
        await EventDeliverer(database=database, box=app.state.secret_box, outbound=LOOPBACK_ALLOWED).deliver_due()
        first, middle, last = receiver.bodies[0]
        log = html.unescape((await admin.get(f"{PAGE}/{endpoint_id}/deliveries")).text)
        assert first in log and last in log and middle not in log  # first … last
        assert ">3<" in log and "contact.opted_out" in log and "delivered" in log

        found = await admin.get(f"{PAGE}/{endpoint_id}/deliveries", params={"event_id": middle})
        assert found.status_code == 200 and first in found.text
        none = await admin.get(f"{PAGE}/{endpoint_id}/deliveries", params={"event_id": "evt_" + "0" * 32})
        assert none.status_code == 200 and first not in none.text and "No deliveries" in none.text
        typed = '"><script>alert(1)</script>'
        refused = await admin.get(f"{PAGE}/{endpoint_id}/deliveries", params={"event_id": typed})
        assert refused.status_code == 422
        assert "<script>alert(1)</script>" not in refused.text
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in refused.text  # kept in the field, escaped
        assert "evt_ and 32 lowercase hex digits" in html.unescape(refused.text)
