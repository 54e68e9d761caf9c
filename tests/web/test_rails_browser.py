"""In headless Chromium: the Start now dialog says whom, how fast and how long; an unnamed draft is
"Untitled campaign" in its Delete dialog and the flash; an ended campaign's stats say "Not running",
never "Live"; a test is named with its time and ends when its campaign starts, freeing its contacts;
a campaign whose template went away shows Draft with what is missing, not Ready to Launch."""

from __future__ import annotations

import asyncio
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, update

from herald.auth import service as auth_service
from herald.auth.principal import Role
from herald.campaigns import service as campaign_service
from herald.campaigns.schemas import CampaignCreate
from herald.config import Settings
from herald.kit.db import Database
from herald.kit.types import utcnow
from herald.models import Campaign, Template
from tests.conftest import TEST_FERNET_KEY, TEST_SECRET_KEY
from tests.factories import WORLD_VIP_PHONE, make_contacts, make_world
from tests.live import live_server
from tests.web.browser import CHROMIUM, CHROMIUM_ARGS, screenshot, skip_without_browser

pytestmark = [pytest.mark.browser, pytest.mark.server, skip_without_browser()]

EMAIL, PASSWORD = "rails@acme.test", "rails-pass-123"
AUDIENCE = 2460  # the world's own vip contact and 2,459 more: 123 s at 20/s


async def _seed(settings: Settings) -> dict[str, int]:
    database = Database.connect(settings.database_url)
    async with database.session() as session:
        org = await auth_service.create_org(session, name="Acme", secret_key=TEST_SECRET_KEY)
        await auth_service.create_user(session, org_id=org.id, email=EMAIL, password=PASSWORD, role=Role.editor)
    world = await make_world(database, org.id)
    await make_contacts(database, org_id=org.id, specs=[
        {"phone": f"+3361{n:07d}", "tags": ["vip"]} for n in range(AUDIENCE - 1)])
    async with database.session() as session:
        ready = await campaign_service.create_campaign(
            session, org_id=org.id, data=CampaignCreate.model_validate(world.campaign()))
        ended = await campaign_service.create_campaign(
            session, org_id=org.id, data=CampaignCreate.model_validate(world.campaign(name="Last spring")))
        untitled = await campaign_service.create_campaign(session, org_id=org.id, data=CampaignCreate())
        stale = await campaign_service.create_campaign(
            session, org_id=org.id, data=CampaignCreate.model_validate(world.campaign(name="Autumn sale")))
        await session.execute(update(Campaign).where(Campaign.id == ended.id)
                              .values(status="ended", started_at=utcnow(), ended_at=utcnow()))
        ids = {"ready": ready.id, "ended": ended.id, "untitled": untitled.id, "stale": stale.id}
        assert (ready.status, stale.status) == ("ready", "ready")
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
        context = browser.new_context(base_url=herald[0], viewport={"width": 1366, "height": 860})
        context.set_default_timeout(15_000)
        tab = context.new_page()
        yield tab
        context.close()
        browser.close()


def test_confirmations_name_the_campaign_and_say_whom_how_fast_and_how_long(
    herald: tuple[str, dict[str, int]], page: Any
) -> None:
    from playwright.sync_api import expect

    ids = herald[1]
    page.goto("/ui/login")
    page.get_by_label("Email").fill(EMAIL)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(re.compile(r"/ui/campaigns$"))
    expect(page.locator("link[rel=icon]")).to_have_attribute("href", re.compile(r"/ui/static/favicon\.svg"))
    # The confirmations are app.js's (deferred): the URL changes before it ran on a loaded machine.
    page.wait_for_load_state("load")

    asked: list[str] = []

    def dismiss(dialog: Any) -> None:
        asked.append(dialog.message)
        dialog.dismiss()

    page.once("dialog", dismiss)
    row = page.locator(f"tr[data-campaign='{ids['ready']}']")
    row.get_by_role("button", name="Start now").click()
    expect(row).to_contain_text("Ready to Launch")  # dismissed: nothing started
    assert asked == ["Start “Spring sale” now: send to 2,460 contacts at 20/s, about 2 minutes?"]

    untitled = page.locator(f"tr[data-campaign='{ids['untitled']}']")
    expect(untitled.get_by_role("link", name="Untitled campaign")).to_be_visible()
    screenshot(page, "rails-01-campaigns")

    def accept(dialog: Any) -> None:
        asked.append(dialog.message)
        dialog.accept()

    page.once("dialog", accept)
    untitled.get_by_role("button", name="Delete").click()
    expect(page.get_by_role("status").first).to_have_text("Campaign “Untitled campaign” deleted.")
    assert asked[-1] == "Delete “Untitled campaign” for good, with its report?"
    expect(page.locator(f"tr[data-campaign='{ids['untitled']}']")).to_have_count(0)

    page.goto(f"/ui/campaigns/{ids['ready']}/schedule")
    page.fill("#day", "2031-03-04")
    page.fill("#clock", "09:00")
    page.fill("#timezone", "Europe/Paris")
    page.fill("#rate_per_hour", "1000")
    expect(page.locator("#estimate-text")).to_contain_text(
        "2,460 eligible contacts at 1,000/hour: about 2.5 hours, estimated finish 2031-03-04 11:27 (Europe/Paris)")
    page.once("dialog", dismiss)
    page.get_by_role("button", name="Schedule").click()
    expect(page).to_have_url(re.compile(r"/schedule$"))  # dismissed: still on the form
    assert asked[-1] == ("Schedule “Spring sale” for 2031-03-04 09:00 (Europe/Paris): send to 2,460 contacts at "
                         "1,000/hour, about 2.5 hours?")
    screenshot(page, "rails-02-schedule")

    page.goto(f"/ui/campaigns/{ids['ended']}/stats")
    expect(page.locator("#campaign-status")).to_contain_text("Ended")
    page.wait_for_timeout(1500)  # time for a feed to connect, were one opened
    expect(page.locator("#live-text")).to_have_text("Not running")


def log_in(page: Any) -> None:
    from playwright.sync_api import expect

    page.goto("/ui/login")
    page.get_by_label("Email").fill(EMAIL)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(re.compile(r"/ui/campaigns$"))


def test_a_test_is_named_with_its_time_and_ends_when_its_campaign_starts(
    herald: tuple[str, dict[str, int]], page: Any
) -> None:
    from playwright.sync_api import expect

    ids = herald[1]
    log_in(page)
    page.goto(f"/ui/campaigns/{ids['ready']}/edit/review")
    expect(page.locator("#phones-engaged")).to_contain_text("stay engaged")
    expect(page.locator("#phones-engaged")).to_contain_text("as soon as this campaign is started or scheduled")
    page.get_by_label(re.compile("phone", re.I)).first.fill(WORLD_VIP_PHONE)
    page.get_by_role("button", name="Send a test").click()
    page.goto("/ui/campaigns?kind=test")
    test_row = page.locator("tr[data-campaign]").filter(has_text="Spring sale (test")
    expect(test_row).to_have_count(1)
    expect(test_row).to_contain_text(re.compile(r"Spring sale \(test \d\d:\d\d UTC\)"))
    expect(test_row).to_contain_text("Active")
    screenshot(page, "rails-03-test-campaign")

    page.goto("/ui/campaigns")
    page.once("dialog", lambda dialog: dialog.accept())
    page.locator(f"tr[data-campaign='{ids['ready']}']").get_by_role("button", name="Start now").click()
    expect(page.locator(f"tr[data-campaign='{ids['ready']}']")).to_contain_text("Active")
    page.goto("/ui/campaigns?kind=test")
    expect(page.locator("tr[data-campaign]").filter(has_text="Spring sale (test")).to_contain_text("Ended")


@pytest.fixture
def template_gone(herald: tuple[str, dict[str, int]], tmp_path: Path) -> None:
    """Meta deleted the world's promo template after both campaigns were saved as Ready to Launch
    (before the browser starts: its driver runs an event loop of its own)."""
    asyncio.run(_delete_promo(tmp_path / "herald.db"))


def test_a_campaign_whose_template_went_away_is_shown_as_a_draft_with_what_is_missing(
    herald: tuple[str, dict[str, int]], template_gone: None, page: Any
) -> None:
    from playwright.sync_api import expect

    ids = herald[1]
    log_in(page)
    row = page.locator(f"tr[data-campaign='{ids['stale']}']")
    expect(row).to_contain_text("Draft")
    expect(row).not_to_contain_text("Ready to Launch")
    expect(row.locator(".hint")).to_contain_text("Missing: Template")
    expect(row.get_by_role("button", name="Start now")).to_have_count(0)
    screenshot(page, "rails-04-template-gone")


async def _delete_promo(db: Path) -> None:
    database = Database.connect(f"sqlite+aiosqlite:///{db}")
    async with database.session() as session:
        await session.execute(delete(Template).where(Template.name == "promo"))
    await database.dispose()
