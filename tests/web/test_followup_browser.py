"""In headless Chromium: from a campaign's stats page, an editor picks an outcome (its count shown),
creates the follow-up, lands on its audience step naming the parent and counting the snapshot, and
finds it listed on the parent's stats page."""

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
from herald.config import Settings
from herald.kit.db import Database
from tests.campaigns.test_followups import ran_campaign
from tests.conftest import TEST_FERNET_KEY, TEST_SECRET_KEY
from tests.factories import make_world
from tests.live import live_server
from tests.web.browser import CHROMIUM, CHROMIUM_ARGS, screenshot, skip_without_browser

pytestmark = [pytest.mark.browser, pytest.mark.server, skip_without_browser()]

EMAIL, PASSWORD = "followups@acme.test", "followups-pass-123"


async def _seed(settings: Settings) -> int:
    database = Database.connect(settings.database_url)
    async with database.session() as session:
        org = await auth_service.create_org(session, name="Acme", secret_key=TEST_SECRET_KEY)
        await auth_service.create_user(session, org_id=org.id, email=EMAIL, password=PASSWORD, role=Role.editor)
    parent = await ran_campaign(database, await make_world(database, org.id))
    await database.dispose()
    return int(parent["id"])


@pytest.fixture
def herald(tmp_path: Path, sqlite_template: Path) -> Iterator[tuple[str, int]]:
    db = tmp_path / "herald.db"
    shutil.copyfile(sqlite_template, db)
    settings = Settings(var_dir=tmp_path / "var", database_url=f"sqlite+aiosqlite:///{db}", secret_key=TEST_SECRET_KEY,
                        encryption_keys=TEST_FERNET_KEY, embedded_worker=False, allow_private_urls=True).resolved()
    parent = asyncio.run(_seed(settings))
    with live_server(settings) as url:
        yield url, parent


@pytest.fixture
def page(herald: tuple[str, int]) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        context = browser.new_context(base_url=herald[0], viewport={"width": 1366, "height": 860})
        context.set_default_timeout(15_000)
        tab = context.new_page()
        yield tab
        context.close()
        browser.close()


def test_an_editor_follows_up_those_who_read_and_did_not_reply(herald: tuple[str, int], page: Any) -> None:
    from playwright.sync_api import expect

    parent = herald[1]
    page.goto("/ui/login")
    page.get_by_label("Email").fill(EMAIL)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(re.compile(r"/ui/campaigns$"))

    page.goto(f"/ui/campaigns/{parent}/stats")
    form = page.locator("#followup-form")
    expect(form.get_by_label("Contacts who")).to_contain_text("Delivered, not read — 2 contacts")
    form.get_by_label("Contacts who").select_option(label="Read, not replied — 1 contact")
    form.get_by_label("Name").fill("Nudge the readers")
    screenshot(page, "followups-01-form")
    form.get_by_role("button", name="Follow up").click()

    expect(page).to_have_url(re.compile(r"/edit/audience$"))
    expect(page.locator("#followup-of")).to_contain_text("Follow-up of Spring sale — read, not replied, 1 contact")
    expect(page.locator("#matched-count")).to_have_text("1")
    screenshot(page, "followups-02-audience")

    page.locator("#followup-of").get_by_role("link", name="Spring sale").click()
    expect(page.locator("#followups-table")).to_contain_text("Nudge the readers")
    expect(page.locator("#followups-table")).to_contain_text("read, not replied")
