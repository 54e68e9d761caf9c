"""In headless Chromium: the audience's tag picker searches hundreds of tags and keeps a choice in
view; an unknown valued tag key is refused on the page with what was typed kept; the key's values
are offered once it is picked; the schedule form starts in the browser's timezone and a refused
value re-renders the form with its message. Each page lands in test-artifacts/screenshots/."""

from __future__ import annotations

import asyncio
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from herald.auth import service as auth_service
from herald.auth.principal import Role
from herald.campaigns import service as campaign_service
from herald.campaigns.schemas import CampaignCreate
from herald.config import Settings
from herald.kit.db import Database
from tests.conftest import TEST_FERNET_KEY, TEST_SECRET_KEY
from tests.factories import make_contacts, make_world
from tests.live import live_server
from tests.web.browser import CHROMIUM, CHROMIUM_ARGS, screenshot, skip_without_browser

pytestmark = [pytest.mark.browser, pytest.mark.server, skip_without_browser()]

EMAIL, PASSWORD = "forms@acme.test", "forms-pass-123"
TAGS = 320  # tag-000 … tag-319, one contact each, besides vip
BROWSER_ZONE = "America/Sao_Paulo"
TYPO = "No contact has a valued tag “custmer_id”. Pick one of the existing keys."


async def _seed(settings: Settings) -> dict[str, int]:
    database = Database.connect(settings.database_url)
    async with database.session() as session:
        org = await auth_service.create_org(session, name="Acme", secret_key=TEST_SECRET_KEY)
        await auth_service.create_user(session, org_id=org.id, email=EMAIL, password=PASSWORD, role=Role.editor)
    world = await make_world(database, org.id)
    contacts = await make_contacts(database, org_id=org.id, specs=[
        {"phone": f"+3361{n:07d}", "name": f"Client {n}", "tags": ["vip", f"tag-{n:03d}"],
         "valued_tags": {"customer_id": f"C{n}", "plan": "gold" if n % 3 else "silver"}} for n in range(TAGS)])
    async with database.session() as session:
        ready = await campaign_service.create_campaign(
            session, org_id=org.id, data=CampaignCreate.model_validate(world.campaign()))
        ids = {"campaign": ready.id, "contact": contacts[0]}
    await database.dispose()
    return ids


@pytest.fixture
def herald(tmp_path: Path, sqlite_template: Path) -> Iterator[tuple[str, dict[str, int]]]:
    db = tmp_path / "herald.db"
    shutil.copyfile(sqlite_template, db)
    settings = Settings(var_dir=tmp_path / "var", database_url=f"sqlite+aiosqlite:///{db}", secret_key=TEST_SECRET_KEY,
                        encryption_keys=TEST_FERNET_KEY, embedded_worker=False, allow_private_urls=True).resolved()
    ids = asyncio.run(_seed(settings))
    with live_server(settings) as url:
        yield url, ids


@pytest.fixture
def page(herald: tuple[str, dict[str, int]]) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        context = browser.new_context(base_url=herald[0], viewport={"width": 1366, "height": 860},
                                      timezone_id=BROWSER_ZONE)
        context.set_default_timeout(15_000)
        tab = context.new_page()
        tab.on("dialog", lambda dialog: dialog.accept())  # the schedule form's confirmation
        yield tab
        context.close()
        browser.close()


def test_pickers_and_forms_that_keep_what_was_typed(herald: tuple[str, dict[str, int]], page: Any) -> None:
    from playwright.sync_api import expect

    ids = herald[1]
    page.goto("/ui/login")
    page.get_by_label("Email").fill(EMAIL)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(re.compile(r"/ui/campaigns$"))

    audience_step(page, ids["campaign"], expect)
    message_step(page, ids["campaign"], expect)
    contact_form(page, ids["contact"], expect)
    schedule_form(page, ids["campaign"], expect)


def audience_step(page: Any, campaign_id: int, expect: Any) -> None:
    page.goto(f"/ui/campaigns/{campaign_id}/edit/audience")
    picker = page.locator("fieldset[data-picker]").first
    items = picker.locator("[data-picker-item]")
    expect(items).to_have_count(TAGS + 1)
    expect(picker.locator("[data-picker-status]")).to_have_text(f"{TAGS + 1} tags, 1 chosen")
    # The search narrows hundreds of tags to those containing the text; vip stays: it is chosen.
    picker.get_by_role("searchbox").fill("tag-27")
    expect(picker.locator("[data-picker-item]:visible")).to_have_count(11)  # tag-270 … tag-279, and vip
    expect(picker.locator("[data-picker-status]")).to_have_text(f"11 of {TAGS + 1} tags shown, 1 chosen")
    tag = picker.locator("[data-picker-item][data-name='tag-275']")
    expect(tag).to_have_text(re.compile(r"^\s*tag-275 \(1\)\s*$"))  # each tag with its count
    tag.get_by_role("checkbox").check()
    picker.get_by_role("searchbox").fill("no such tag")
    expect(picker.locator("[data-picker-none]")).to_be_visible()
    expect(picker.locator("[data-picker-item]:visible")).to_have_count(2)  # the chosen ones stay in view
    picker.get_by_role("searchbox").press("Enter")  # filters, never submits
    expect(page).to_have_url(re.compile(r"/edit/audience$"))
    screenshot(page, "forms-01-audience-tag-picker")

    page.get_by_label("Valued tag").first.fill("custmer_id")
    page.get_by_role("button", name="Save and continue").click()
    expect(page.locator("#audience-error")).to_have_text(TYPO)
    expect(page.get_by_label("Valued tag").first).to_have_value("custmer_id")
    chosen = page.locator("fieldset[data-picker]").first.locator("[data-picker-item][data-name='tag-275'] input")
    expect(chosen).to_be_checked()  # the choices typed are kept
    expect(page.locator("#unknown-keys")).to_have_text(TYPO)
    screenshot(page, "forms-02-audience-unknown-key")

    key = page.get_by_label("Valued tag").first
    key.fill("plan")
    key.dispatch_event("change")
    values = page.locator("#vt-values-1 option")
    expect(values).to_have_count(2)  # the key's values are offered once it is picked, most common first
    expect(values.first).to_have_attribute("value", "gold")
    expect(values.first).to_have_attribute("label", "213 contacts")
    page.locator("#vt_value_1").fill("silver")
    page.get_by_role("button", name="Add another valued tag").click()
    expect(page.get_by_label("Valued tag")).to_have_count(3)
    page.get_by_role("button", name="Save and continue").click()
    expect(page).to_have_url(re.compile(r"/edit/message$"))


def message_step(page: Any, campaign_id: int, expect: Any) -> None:
    variable = page.get_by_role("group", name="Variable {{2}}")
    variable.get_by_label("Comes from").select_option("valued_tag")
    key = variable.get_by_label("Valued tag key")
    expect(key).to_be_visible()
    expect(page.locator("#valued-keys option[value='customer_id']")).to_have_attribute("label", f"{TAGS} contacts")
    key.fill("custmer_id")
    page.get_by_role("button", name="Save and continue").click()
    expect(page.locator("#variables-2-error")).to_have_text(TYPO)
    expect(page.locator("#var_2_key")).to_have_value("custmer_id")
    screenshot(page, "forms-03-message-unknown-key")
    page.locator("#var_2_key").fill("customer_id")
    page.get_by_role("button", name="Save and continue").click()
    expect(page).to_have_url(re.compile(r"/edit/bot$"))


def contact_form(page: Any, contact_id: int, expect: Any) -> None:
    page.goto(f"/ui/contacts/{contact_id}")
    page.get_by_label("Name", exact=True).fill("Client Zero Renamed")
    page.get_by_label("Tags", exact=True).fill("vip, renamed")
    page.get_by_label("Valued tags").fill("plan=platinum\nthis is = not valid")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#valued_tags-error")).to_contain_text("Valued tag key 'this is' is not valid")
    expect(page.get_by_label("Name", exact=True)).to_have_value("Client Zero Renamed")
    expect(page.get_by_label("Tags", exact=True)).to_have_value("vip, renamed")
    expect(page.get_by_label("Valued tags")).to_have_value("plan=platinum\nthis is = not valid\n")
    screenshot(page, "forms-04-contact-refused")


def schedule_form(page: Any, campaign_id: int, expect: Any) -> None:
    page.goto("/ui/campaigns")
    page.locator(f"tr[data-campaign='{campaign_id}']").get_by_role("link", name="Schedule").click()
    timezone = page.get_by_label("Timezone")
    expect(timezone).to_have_value(BROWSER_ZONE)  # the browser's own, to begin with
    assert page.locator("#timezones option[value='Europe/Paris']").count() == 1  # every zone, to search
    page.get_by_label("Date").fill("2020-01-01")
    page.get_by_label("Contacts per hour").fill("250")
    page.get_by_role("button", name="Schedule").click()
    expect(page.locator("#start_at-error")).to_have_text("The start time has passed: pick a later date or time.")
    expect(page.get_by_label("Date")).to_have_value("2020-01-01")
    expect(page.get_by_label("Timezone")).to_have_value(BROWSER_ZONE)
    expect(page.get_by_label("Contacts per hour")).to_have_value("250")
    screenshot(page, "forms-05-schedule-refused")
    page.get_by_label("Timezone").fill("Europe/Pariss")
    page.get_by_label("Date").fill("2099-01-01")
    page.get_by_role("button", name="Schedule").click()
    expect(page.locator("#timezone-error")).to_contain_text("Unknown timezone “Europe/Pariss”")
    expect(page.get_by_label("Timezone")).to_have_value("Europe/Pariss")
