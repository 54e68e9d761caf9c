"""Stored XSS through a valued tag key (issue 17, item 1).

A key such as ``</script><img src=x onerror=…>``, bound to a template variable, comes back in a
not-sent reason ("valued tag '…' missing") that the campaign's stats page embeds in its data. Keys are
now refused unless they follow the key rule, at every entry point; data stored before the rule
existed stays stored, so the pages must still escape it: the hostile campaign here is such old data,
written straight into the database and then sent by a real worker.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from fastapi import FastAPI
from markupsafe import escape
from sqlalchemy import select

from herald.auth import service as auth_service
from herald.auth.principal import Role
from herald.campaigns import reasons
from herald.config import Settings
from herald.kit.crypto import SecretBox
from herald.kit.db import Database
from herald.models import Campaign, ContactValuedTag
from tests.conftest import TEST_SECRET_KEY, OrgHandle
from tests.dispatch.helpers import done_sending, running_worker, wait_until
from tests.factories import (
    World,
    make_active_campaign,
    make_bot_flow,
    make_contacts,
    make_number,
    make_template,
    make_world,
)
from tests.live import live_server
from tests.web.browser import CHROMIUM, CHROMIUM_ARGS, screenshot, skip_without_browser
from tests.web.helpers import PASSWORD, csrf_of, log_in, make_user, page_csrf

# No double quote, so json.dumps leaves it as it is: embedded raw, it would end the <script> element
# and its onerror handler would run.
HOSTILE_KEY = "</script><img src=x onerror=document.title='pwned'>"
HOSTILE_REASON = reasons.valued_tag_missing(HOSTILE_KEY)
BAD_KEYS = [HOSTILE_KEY, "plan name", "-plan", ".plan", "plan/2", "plan:gold", "plän", "k" * 65]
GOOD_KEYS = ["customer_id", "plan.v2", "tier-1", "2024", "K" * 64]
VIP = {"phone": "+14155550101", "name": "Ada", "tags": ["vip"]}


async def old_hostile_campaign(database: Database, box: SecretBox, org_id: int) -> int:
    """An active campaign whose variable reads a valued tag under the hostile key, as stored before the
    key rule existed; a real worker sends it, so its contact is not sent for lack of that valued tag."""
    number = await make_number(database, box, org_id=org_id, base_url="http://127.0.0.1:9")
    await make_template(database, org_id=org_id)
    bot = await make_bot_flow(database, box, org_id=org_id)
    await make_contacts(database, org_id=org_id, specs=[VIP])
    variables = {"1": {"source": "contact_name"}, "2": {"source": "valued_tag", "key": HOSTILE_KEY},
                 "3": {"source": "text", "value": "20%"}}
    campaign = await make_active_campaign(database, org_id=org_id, number_id=number, audience={"tags_any": ["vip"]},
                                          variables=variables, media_row_id=None, bot_flow_id=bot, name="Spring")
    async with running_worker(database, box):
        await wait_until(lambda: done_sending(database, campaign))
    return campaign


class _Elements(HTMLParser):
    """The elements of a page as a browser's tokenizer sees them (script content is raw text)."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.scripts: dict[str, str] = {}
        self._script_id: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._script_id = (dict(attrs).get("id") or "") if tag == "script" else None

    def handle_data(self, data: str) -> None:
        if self._script_id:
            self.scripts[self._script_id] = self.scripts.get(self._script_id, "") + data

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._script_id = None


def elements(html: str) -> _Elements:
    parser = _Elements()
    parser.feed(html)
    parser.close()
    return parser


@pytest.fixture
async def viewer(app: FastAPI, database: Database, org: OrgHandle) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://herald.test") as client:
        email = await make_user(database, org_id=org.id, role=Role.viewer)
        assert (await log_in(client, email)).status_code == 303
        yield client


@pytest.fixture
async def editor(app: FastAPI, database: Database, org: OrgHandle) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://herald.test") as client:
        email = await make_user(database, org_id=org.id, role=Role.editor)
        assert (await log_in(client, email)).status_code == 303
        yield client


class TestStatsPageEscapesOldData:
    async def test_a_hostile_not_sent_reason_stays_text_in_the_page_and_its_data(
        self, app: FastAPI, database: Database, org: OrgHandle, client: httpx.AsyncClient, viewer: httpx.AsyncClient
    ) -> None:
        campaign = await old_hostile_campaign(database, app.state.secret_box, org.id)
        api_stats = (await client.get(f"/api/v1/campaigns/{campaign}/stats", headers=org.auth)).json()
        assert api_stats["not_sent_reasons"] == {HOSTILE_REASON: 1}

        page = await viewer.get(f"/ui/campaigns/{campaign}/stats")
        assert page.status_code == 200
        assert HOSTILE_KEY not in page.text and "<img src=x onerror" not in page.text
        parsed = elements(page.text)
        assert [tag for tag, _ in parsed.tags if tag == "img"] == []
        assert not [attrs for _, attrs in parsed.tags if any(name.startswith("on") for name in attrs)]
        # The data element holds all of the data, which parses back to what the API says.
        initial = json.loads(parsed.scripts["stats-initial"])
        assert initial["stats"] == api_stats and initial["status"] == "active"
        # The reasons table shows the reason as text, linked to its contacts by the reason URL-encoded.
        link = f'/ui/campaigns/{campaign}/contacts?reason={quote(HOSTILE_REASON)}'
        assert f'<td><a href="{link}">{escape(HOSTILE_REASON)}</a></td>' in page.text


def _error(answer: httpx.Response) -> tuple[list[str], str]:
    error = answer.json()["error"]
    assert answer.status_code == 422 and error["code"] == "validation_error", answer.text
    return [d["field"] for d in error["details"]], error["message"]


async def _valued_keys(database: Database, org_id: int) -> list[str]:
    async with database.read_session() as session:
        rows = await session.execute(select(ContactValuedTag.key).where(ContactValuedTag.org_id == org_id))
        return sorted(rows.scalars())


class TestValuedTagKeysThroughTheApi:
    @pytest.mark.parametrize("key", BAD_KEYS)
    async def test_create_upsert_and_update_refuse_a_bad_key_naming_the_field(
        self, client: httpx.AsyncClient, database: Database, org: OrgHandle, key: str
    ) -> None:
        body = {"phone": "+14155550101", "valued_tags": {key: "1"}}
        for path in ("/api/v1/contacts", "/api/v1/contacts?upsert=true"):
            fields, message = _error(await client.post(path, json=body, headers=org.auth))
            assert fields == ["valued_tags"] and "valued tag key" in message
        created = await client.post("/api/v1/contacts", json={"phone": "+14155550101"}, headers=org.auth)
        contact = created.json()["id"]
        answer = await client.patch(f"/api/v1/contacts/{contact}", json={"valued_tags": {key: "1"}}, headers=org.auth)
        fields, _ = _error(answer)
        assert fields == ["valued_tags"]
        assert await _valued_keys(database, org.id) == []
        assert (await client.get("/api/v1/valued-tags", headers=org.auth)).json() == []

    async def test_good_keys_are_kept(self, client: httpx.AsyncClient, org: OrgHandle) -> None:
        body = {"phone": "+14155550101", "valued_tags": dict.fromkeys(GOOD_KEYS, "1")}
        answer = await client.post("/api/v1/contacts", json=body, headers=org.auth)
        assert answer.status_code == 201, answer.text
        assert sorted(answer.json()["valued_tags"]) == sorted(GOOD_KEYS)

    async def test_an_old_bad_key_can_still_be_deleted(
        self, client: httpx.AsyncClient, database: Database, org: OrgHandle
    ) -> None:
        (contact,) = await make_contacts(database, org_id=org.id, specs=[{**VIP, "valued_tags": {HOSTILE_KEY: "x"}}])
        answer = await client.patch(f"/api/v1/contacts/{contact}", json={"valued_tags": {HOSTILE_KEY: None}},
                                    headers=org.auth)
        assert answer.status_code == 200, answer.text
        assert answer.json()["valued_tags"] == {}

    async def test_a_csv_header_with_a_bad_key_refuses_the_file_naming_the_column(
        self, client: httpx.AsyncClient, database: Database, org: OrgHandle
    ) -> None:
        data = f"phone,name,vt:plan,vt:{HOSTILE_KEY}\n+14155550101,Ada,gold,1\n".encode()
        answer = await client.post("/api/v1/contacts/import", files={"file": ("c.csv", data, "text/csv")},
                                   headers=org.auth)
        fields, message = _error(answer)
        assert fields == ["file"] and f"column 4 ('vt:{HOSTILE_KEY}')" in message
        assert answer.json()["error"]["details"][0]["column"] == f"vt:{HOSTILE_KEY}"
        assert (await client.get("/api/v1/contacts", headers=org.auth)).json()["items"] == []

    @pytest.mark.parametrize("key", [HOSTILE_KEY, "plan name"])
    async def test_campaign_bindings_and_segments_refuse_a_bad_key(
        self, client: httpx.AsyncClient, database: Database, org: OrgHandle, key: str
    ) -> None:
        world = await make_world(database, org.id)
        variables = world.campaign()["variables"] | {"2": {"source": "valued_tag", "key": key}}
        fields, message = _error(await client.post("/api/v1/campaigns", json=world.campaign(variables=variables),
                                                   headers=org.auth))
        assert fields == ["variables.2"] and "valued tag key" in message
        audience = {"tags_any": ["vip"], "valued_tags": [{"key": key, "value": "gold"}]}
        fields, _ = _error(await client.post("/api/v1/campaigns", json=world.campaign(audience=audience),
                                             headers=org.auth))
        assert fields == ["audience"]
        await make_contacts(database, org_id=org.id, specs=[{"phone": "+14155550177", "valued_tags": {"plan": "gold"}}])
        good = world.campaign(variables=world.campaign()["variables"] | {"2": {"source": "valued_tag", "key": "plan"}})
        created = await client.post("/api/v1/campaigns", json=good, headers=org.auth)
        assert created.status_code == 201, created.text
        fields, _ = _error(await client.patch(f"/api/v1/campaigns/{created.json()['id']}",
                                              json={"variables": variables}, headers=org.auth))
        assert fields == ["variables.2"]
        async with database.read_session() as session:
            stored = (await session.execute(select(Campaign.variables))).scalars().all()
        assert [v["2"] for v in stored] == [{"source": "valued_tag", "key": "plan"}]


class TestValuedTagKeysThroughTheUi:
    async def test_the_contact_form_refuses_a_bad_key_and_keeps_an_old_one_as_it_is(
        self, editor: httpx.AsyncClient, database: Database, org: OrgHandle
    ) -> None:
        (contact,) = await make_contacts(database, org_id=org.id, specs=[{**VIP, "valued_tags": {HOSTILE_KEY: "x"}}])
        page = await editor.get(f"/ui/contacts/{contact}")
        assert HOSTILE_KEY not in page.text and f"{escape(HOSTILE_KEY)}=x" in page.text
        token = csrf_of(page.text)
        refused = await editor.post(f"/ui/contacts/{contact}", data={
            "csrf_token": token, "name": "Ada", "tags": "vip", "valued_tags": f"{HOSTILE_KEY}=x\nplan name=gold"})
        assert refused.status_code == 422 and 'id="valued_tags-error"' in refused.text
        assert "Valued tag key &#39;plan name&#39; is not valid" in refused.text
        # The old key's line left as it was does not stop the contact from being saved.
        saved = await editor.post(f"/ui/contacts/{contact}", data={
            "csrf_token": token, "name": "Ada L", "tags": "vip", "valued_tags": f"{HOSTILE_KEY}=x\nplan=gold"})
        assert saved.status_code == 303, saved.text
        assert await _valued_keys(database, org.id) == sorted([HOSTILE_KEY, "plan"])

    async def test_the_csv_import_form_refuses_a_bad_header_naming_the_column(
        self, editor: httpx.AsyncClient, client: httpx.AsyncClient, org: OrgHandle
    ) -> None:
        token = await page_csrf(editor, "/ui/contacts")
        data = "phone,vt:plan name\n+14155550101,gold\n"
        answer = await editor.post("/ui/contacts/import", files={"file": ("c.csv", data, "text/csv")},
                                   headers={"X-CSRF-Token": token})
        assert answer.status_code == 422
        assert "column 2 (&#39;vt:plan name&#39;) of the header" in answer.text
        assert (await client.get("/api/v1/contacts", headers=org.auth)).json()["items"] == []

    async def test_the_wizard_refuses_a_bad_key_in_a_binding_and_in_the_audience(
        self, editor: httpx.AsyncClient, database: Database, org: OrgHandle
    ) -> None:
        world: World = await make_world(database, org.id)
        async with database.session() as session:
            row = Campaign(org_id=org.id, name="Spring", status="draft", kind="real", missing=["audience"],
                           whatsapp_number_id=world.number_id)
            session.add(row)
            await session.flush()
            campaign = row.id
        await make_contacts(database, org_id=org.id, specs=[{"phone": "+14155550177", "valued_tags": {"plan": "gold"}}])
        token = await page_csrf(editor, f"/ui/campaigns/{campaign}/edit/audience")
        audience = await editor.post(f"/ui/campaigns/{campaign}/edit/audience", data={
            "csrf_token": token, "tags_any": "vip", "vt_key": "plan name", "vt_value": "gold"})
        assert audience.status_code == 422 and 'id="audience-error"' in audience.text
        step = {"csrf_token": token, "template": "promo|en_US", "positions": "1,2", "var_1_source": "contact_name",
                "var_2_source": "valued_tag"}
        saved = await editor.post(f"/ui/campaigns/{campaign}/edit/message", data={**step, "var_2_key": "plan"})
        assert saved.status_code == 303, saved.text
        message = await editor.post(f"/ui/campaigns/{campaign}/edit/message", data={**step, "var_2_key": HOSTILE_KEY})
        assert message.status_code == 422 and 'id="variables-2-error"' in message.text
        assert HOSTILE_KEY not in message.text and "Valued tag key &#39;&lt;/script&gt;" in message.text
        async with database.read_session() as session:
            stored = await session.get(Campaign, campaign)
            assert stored is not None and stored.audience is None
            assert stored.variables["2"] == {"source": "valued_tag", "key": "plan"}


# ---------------------------------------------------------------------------------------------------
# In a browser: the hostile old data runs nothing, the Content-Security-Policy reports no violation,
# the charts draw, and htmx still works under the policy.

EMAIL = "admin@acme.test"
# Playwright's init script is not subject to the page's policy: it records every violation.
RECORD_VIOLATIONS = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", function (e) {
  window.__violations.push(e.violatedDirective + " " + (e.blockedURI || "inline") + " " + (e.sourceFile || ""));
});
"""


@pytest.fixture
def hostile_herald(settings: Settings) -> Iterator[tuple[str, int]]:
    """A live Herald over the test's database holding the old hostile campaign: (URL, campaign id)."""

    async def seed() -> int:
        database = Database.connect(settings.database_url)
        try:
            async with database.session() as session:
                org = await auth_service.create_org(session, name="Acme", secret_key=TEST_SECRET_KEY)
                await auth_service.create_user(session, org_id=org.id, email=EMAIL, password=PASSWORD, role=Role.admin)
                org_id = org.id
            campaign = await old_hostile_campaign(database, SecretBox(settings.encryption_keys), org_id)
            await make_contacts(database, org_id=org_id, specs=[
                {"phone": "+14155550102", "name": "Grace", "tags": ["newsletter", "spring"]},
                {"phone": "+14155550103", "name": "Linus", "tags": ["newsletter"]},
            ])
            return campaign
        finally:
            await database.dispose()

    campaign = asyncio.run(seed())
    with live_server(settings) as url:
        yield url, campaign


@pytest.mark.browser
@pytest.mark.server
@skip_without_browser()
def test_in_a_browser_old_hostile_data_runs_nothing_and_the_policy_breaks_nothing(
    hostile_herald: tuple[str, int], tmp_path: Path
) -> None:
    from playwright.sync_api import expect, sync_playwright

    url, campaign = hostile_herald
    expect.set_options(timeout=15_000)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        context = browser.new_context(base_url=url, viewport={"width": 1366, "height": 860})
        context.set_default_timeout(15_000)
        context.add_init_script(RECORD_VIOLATIONS)
        page = context.new_page()
        console: list[str] = []
        page.on("console", lambda message: console.append(f"{message.type}: {message.text}"))
        page.on("pageerror", lambda error: console.append(f"pageerror: {error}"))
        try:
            _log_in(page)
            _stats_page(page, campaign, expect)
            _htmx_pages(page, expect)
            assert not [line for line in console if "Content Security Policy" in line or "pageerror" in line], console
        finally:
            context.close()
            browser.close()


def _violations(page: Any) -> list[str]:
    return page.evaluate("window.__violations")  # type: ignore[no-any-return]


def _log_in(page: Any) -> None:
    page.goto("/ui/login")
    page.get_by_label("Email").fill(EMAIL)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(r"/ui/campaigns$"))
    assert _violations(page) == []


def _stats_page(page: Any, campaign: int, expect: Any) -> None:
    page.goto(f"/ui/campaigns/{campaign}/stats")
    reason_cell = page.locator("#reasons-body td").first
    expect(reason_cell).to_have_text(HOSTILE_REASON)
    # The live feed connects and redraws the table from its own data: still text.
    expect(page.locator("#live-text")).to_have_text("Live")
    page.wait_for_timeout(2500)  # stats events come every second: let a few redraw the reasons table
    expect(reason_cell).to_have_text(HOSTILE_REASON)
    charts = page.evaluate("""() => ['funnel-chart', 'sends-chart'].map(id => {
        const chart = window.Chart && Chart.getChart(id);
        return chart ? [chart.data.datasets[0].data, chart.canvas.width > 0 && chart.canvas.height > 0] : null;
    })""")
    assert charts[0] == [[1, 0, 0, 0, 0], True], charts  # targeted 1 (Ada), sent 0
    assert charts[1] is not None and charts[1][1], charts
    screenshot(page, "security-stats-hostile-reason")
    assert page.title() != "pwned" and page.locator("img").count() == 0
    assert _violations(page) == []


def _htmx_pages(page: Any, expect: Any) -> None:
    # Contacts: the search box filters the table through htmx (hx-get, hx-select, hx-push-url).
    page.goto("/ui/contacts")
    expect(page.locator("#contacts-table")).to_contain_text("Linus")
    page.fill("#q", "Grace")
    expect(page.locator("#contacts-table")).not_to_contain_text("Linus")
    expect(page.locator("#contacts-table")).to_contain_text("Grace")
    expect(page).to_have_url(re.compile(r"q=Grace"))
    # The wizard's audience counts: an htmx POST carrying the CSRF header from <body hx-headers>.
    page.goto("/ui/campaigns/new")
    page.fill("#name", "Autumn")
    page.get_by_role("button", name=re.compile("Save")).click()
    page.wait_for_url(re.compile(r"/edit/audience$"))
    page.get_by_role("checkbox").first.check()
    expect(page.locator("#matched-count")).to_have_text(re.compile(r"[1-9]"))
    # The error page's "Go back" link (an app.js handler now, not a javascript: URL).
    page.goto("/ui/settings")
    page.goto("/ui/contacts/999999999")
    page.get_by_role("link", name="Go back").click()
    page.wait_for_url(re.compile(r"/ui/settings$"))
    assert _violations(page) == []
