"""The demo organization in headless Chromium: header media in the wizard's message step (a video-header
template, the offer in a second language), and every main page on a 375 px wide phone."""

from __future__ import annotations

import asyncio
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from herald.auth import service as auth_service
from herald.auth.principal import Role
from herald.config import Settings
from herald.demo import data, video
from herald.demo.api import Api
from herald.demo.campaign import create_and_start
from herald.demo.seed import seed
from herald.kit.db import Database
from herald.simulator import SimulatorServer
from tests.conftest import TEST_FERNET_KEY, TEST_SECRET_KEY
from tests.live import live_server
from tests.web.browser import CHROMIUM, CHROMIUM_ARGS, screenshot, skip_without_browser

pytestmark = [pytest.mark.browser, pytest.mark.server, skip_without_browser()]

EMAIL, PASSWORD = "maria@demo.test", "phone-and-media"
CONTACTS = 40
PHONE = {"width": 375, "height": 740}


@dataclass
class Demo:
    url: str
    number_id: int
    running_campaign_id: int
    contact_id: int


@pytest.fixture
def demo(tmp_path: Path, sqlite_template: Path) -> Iterator[Demo]:
    """Herald with the demo organization seeded as ``herald demo`` does, against the demo's simulator."""
    db = tmp_path / "herald.db"
    shutil.copyfile(sqlite_template, db)
    settings = Settings(var_dir=tmp_path / "var", database_url=f"sqlite+aiosqlite:///{db}", secret_key=TEST_SECRET_KEY,
                        encryption_keys=TEST_FERNET_KEY, embedded_worker=True, allow_private_urls=True).resolved()

    async def organization() -> str:
        database = Database.connect(settings.database_url)
        async with database.session() as session:
            org = await auth_service.create_org(session, name="Demo", secret_key=TEST_SECRET_KEY)
            await auth_service.create_user(session, org_id=org.id, email=EMAIL, password=PASSWORD, role=Role.admin)
            _, key = await auth_service.create_api_key(session, org_id=org.id, role=Role.admin, name="test",
                                                       secret_key=TEST_SECRET_KEY)
        await database.dispose()
        return key

    async def seeded(url: str, sim_url: str, key: str) -> Demo:
        async with Api(url, key) as api:
            done = await seed(api, sim_url=sim_url, bot_url="http://127.0.0.1:9/demo-bot", count=CONTACTS)
            launch = await create_and_start(api, number_id=done.number_id, bot_flow_id=done.bot_flow_id,
                                            teaser_media_id=done.teaser_media_id, contacts=CONTACTS)
            contact = (await api.get("/contacts?limit=1"))["items"][0]
        return Demo(url, done.number_id, launch.campaign["id"], contact["id"])

    key = asyncio.run(organization())
    with live_server(settings) as url, SimulatorServer(
        data.scenario(CONTACTS), webhook_url=f"{url}/webhooks/whatsapp", app_secret=data.APP_SECRET
    ) as sim:
        yield asyncio.run(seeded(url, sim.base_url, key))


@pytest.fixture
def browser(demo: Demo) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()


def open_page(browser: Any, demo: Demo, viewport: dict[str, int]) -> Any:
    from playwright.sync_api import expect

    context = browser.new_context(base_url=demo.url, viewport=viewport)
    context.set_default_timeout(15_000)
    page = context.new_page()
    page.on("dialog", lambda dialog: dialog.accept())
    page.goto("/ui/login")
    page.get_by_label("Email").fill(EMAIL)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(re.compile(r"/ui/campaigns$"))
    return page


def new_draft(page: Any, name: str) -> int:
    """Steps 1 and 2 of the wizard: the demo's number, the demo audience; returns the campaign's id."""
    from playwright.sync_api import expect

    page.goto("/ui/campaigns/new")
    page.get_by_label("Campaign name").fill(name)
    page.get_by_label("WhatsApp number").select_option(index=1)
    page.get_by_role("button", name="Save and continue").click()
    expect(page).to_have_url(re.compile(r"/edit/audience$"))
    campaign_id = int(re.search(r"/campaigns/(\d+)/", page.url).group(1))  # type: ignore[union-attr]
    page.locator(f"input[name=tags_any][value={data.AUDIENCE_TAG}]").check()
    page.get_by_role("button", name="Save and continue").click()
    expect(page).to_have_url(re.compile(r"/edit/message$"))
    return campaign_id


def test_header_upload_in_the_message_step_and_the_real_media_in_the_preview(
    demo: Demo, browser: Any, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    expect.set_options(timeout=15_000)
    page = open_page(browser, demo, {"width": 1366, "height": 900})
    campaign_id = new_draft(page, "Winter teaser")
    select = page.get_by_label("Template and language")
    # The demo's offer comes in two languages, both sendable.
    expect(select.locator("option[value='winter_sale|en_US']")).to_be_enabled()
    expect(select.locator("option[value='winter_sale|pt_BR']")).to_have_text(re.compile(r"winter_sale \(pt_BR\)"))
    expect(page.locator("#header-file")).to_have_count(0)

    # Choosing the video-header template shows the upload at once, before the step is saved.
    select.select_option("winter_teaser|en_US")
    upload = page.locator("#header-media")
    expect(upload).to_contain_text("Header video")
    expect(upload).to_contain_text("MP4 or 3GPP video")
    expect(page.locator("#header-file")).to_have_attribute("accept", "video/mp4,video/3gpp")
    expect(page.locator("#preview-bubble")).to_contain_text("video header: not uploaded yet")
    page.locator("#var_1_source").select_option("contact_name")
    page.locator("#var_2_source").select_option("valued_tag")
    page.locator("#var_2_key").fill(data.MEMBER_ID)
    page.locator("#var_2_key").press("Tab")

    # A file of the wrong kind is refused next to the field, nothing else on the page lost.
    banner = tmp_path / "winter-banner.png"
    banner.write_bytes(data.banner_png())
    page.set_input_files("#header-file", str(banner))
    upload.get_by_role("button", name="Upload").click()
    expect(page.locator("#file-error")).to_contain_text("this template's header needs an MP4 or 3GPP video")
    expect(page.locator("#var_2_key")).to_have_value(data.MEMBER_ID)

    teaser = tmp_path / "winter-teaser.mp4"
    teaser.write_bytes(video.teaser_mp4())
    page.set_input_files("#header-file", str(teaser))
    upload.get_by_role("button", name="Upload").click()
    expect(upload).to_contain_text("Uploaded winter-teaser.mp4 as the header.")
    expect(upload).to_contain_text("Current header: winter-teaser.mp4")
    player = page.locator("#preview-bubble video")
    expect(player).to_have_attribute("preload", "metadata")
    expect(player).to_have_attribute("src", re.compile(r"^/ui/media/\d+/file$"))
    # The browser decoded the uploaded file's first frame: the preview shows the real video.
    page.wait_for_function("() => { const v = document.querySelector('#preview-bubble video');"
                           " return v && v.readyState >= 2 && v.videoWidth === 128; }")
    expect(page.locator("#preview-bubble")).to_contain_text("the winter collection in two seconds")
    expect(page.locator("#var_2_key")).to_have_value(data.MEMBER_ID)  # typed before the upload, still there
    screenshot(page, "media-01-wizard-video-header")
    page.get_by_role("button", name="Save and continue").click()
    expect(page).to_have_url(re.compile(r"/edit/bot$"))
    page.goto(f"/ui/campaigns/{campaign_id}/edit/review")
    expect(page.locator("#missing-list")).not_to_contain_text("Header media")
    expect(page.locator("#missing-list")).not_to_contain_text("Template")

    # The offer in Brazilian Portuguese: an image header, shown as the image itself.
    page.goto(f"/ui/campaigns/{campaign_id}/edit/message")
    expect(page.locator("#preview-bubble video")).to_be_visible()
    page.get_by_label("Template and language").select_option("winter_sale|pt_BR")
    expect(page.locator("#header-media")).to_contain_text("Header image")
    expect(page.locator("#preview-bubble")).to_contain_text("image header: not uploaded yet")
    expect(page.locator("#preview-bubble")).to_contain_text("Liquidação de inverno")
    page.set_input_files("#header-file", str(banner))
    page.locator("#header-media").get_by_role("button", name="Upload").click()
    image = page.locator("#preview-bubble img")
    expect(image).to_have_attribute("alt", "Header image: winter-banner.png")
    page.wait_for_function("() => { const i = document.querySelector('#preview-bubble img');"
                           " return i && i.complete && i.naturalWidth === 64; }")
    screenshot(page, "media-02-wizard-image-header-pt-BR")
    page.get_by_role("button", name="Save and continue").click()
    expect(page).to_have_url(re.compile(r"/edit/bot$"))
    page.goto("/ui/campaigns")
    expect(page.locator(f"tr[data-campaign='{campaign_id}']")).to_contain_text("winter_sale (pt_BR)")


def assert_no_sideways_scroll(page: Any, name: str) -> None:
    width = page.evaluate("() => document.documentElement.scrollWidth")
    if width > PHONE["width"]:
        wide = page.evaluate(
            "() => [...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > 376)"
            ".slice(0, 5).map(e => e.tagName + '.' + e.className + '#' + e.id)")
        pytest.fail(f"{name} scrolls sideways at 375 px ({width} px wide): {wide}")


def test_every_main_page_fits_a_phone_and_the_navigation_folds(demo: Demo, browser: Any) -> None:
    from playwright.sync_api import expect

    expect.set_options(timeout=15_000)
    page = open_page(browser, demo, PHONE)
    draft_id = new_draft(page, "A draft with a long name that has to wrap on a phone screen")

    # The navigation: folded behind the Menu button, opened and closed again.
    menu = page.get_by_role("button", name="Menu")
    nav = page.get_by_role("navigation", name="Main")
    expect(menu).to_have_attribute("aria-expanded", "false")
    expect(nav).to_be_hidden()
    menu.click()
    expect(menu).to_have_attribute("aria-expanded", "true")
    expect(nav.get_by_role("link", name="Contacts")).to_be_visible()
    screenshot(page, "phone-01-menu-open")
    menu.click()
    expect(nav).to_be_hidden()
    menu.click()
    nav.get_by_role("link", name="Campaigns").click()
    expect(page).to_have_url(re.compile(r"/ui/campaigns$"))
    expect(nav).to_be_hidden()

    # The campaign list: each row a card, every action on screen.
    rows = page.locator("tr[data-campaign]")
    expect(rows).to_have_count(2)
    for action in page.locator("tr[data-campaign] .actions .button").all():
        box = action.bounding_box()
        assert box and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], action.inner_text()
    running = page.locator(f"tr[data-campaign='{demo.running_campaign_id}']")
    expect(running.get_by_role("button", name="Pause")).to_be_visible()
    expect(page.locator(f"tr[data-campaign='{draft_id}'] td[data-label='Status']")).to_contain_text("Draft")
    assert_no_sideways_scroll(page, "campaigns")
    screenshot(page, "phone-02-campaigns")

    pages = [
        ("phone-03-campaign-stats", f"/ui/campaigns/{demo.running_campaign_id}/stats"),
        ("phone-04-wizard-basics", f"/ui/campaigns/{draft_id}/edit/basics"),
        ("phone-05-wizard-audience", f"/ui/campaigns/{draft_id}/edit/audience"),
        ("phone-06-wizard-message", f"/ui/campaigns/{draft_id}/edit/message"),
        ("phone-07-wizard-bot", f"/ui/campaigns/{draft_id}/edit/bot"),
        ("phone-08-wizard-review", f"/ui/campaigns/{draft_id}/edit/review"),
        ("phone-09-campaigns-test", "/ui/campaigns?kind=test"),
        ("phone-10-contacts", "/ui/contacts"),
        ("phone-11-contact", f"/ui/contacts/{demo.contact_id}"),
        ("phone-12-templates", "/ui/templates"),
        ("phone-13-numbers", "/ui/numbers"),
        ("phone-14-number", f"/ui/numbers/{demo.number_id}"),
        ("phone-15-bot-flows", "/ui/bot-flows"),
        ("phone-16-settings", "/ui/settings"),
        ("phone-17-new-campaign", "/ui/campaigns/new"),
    ]
    for name, path in pages:
        response = page.goto(path)
        assert response is not None and response.ok, (path, response and response.status)
        if name == "phone-06-wizard-message":  # with the video header's upload and preview
            page.get_by_label("Template and language").select_option("winter_teaser|en_US")
            expect(page.locator("#header-media")).to_contain_text("Header video")
        assert_no_sideways_scroll(page, path)
        screenshot(page, name)

    page.goto("/ui/templates")
    page.locator("#templates-table").get_by_role("link", name="winter_teaser").first.click()
    expect(page).to_have_url(re.compile(r"/ui/templates/\d+$"))
    assert_no_sideways_scroll(page, "a template")
    screenshot(page, "phone-18-template")


def test_a_laptop_shows_the_navigation_without_the_menu_button(demo: Demo, browser: Any) -> None:
    from playwright.sync_api import expect

    page = open_page(browser, demo, {"width": 1366, "height": 860})
    expect(page.get_by_role("navigation", name="Main").get_by_role("link", name="Contacts")).to_be_visible()
    expect(page.get_by_role("button", name="Menu")).to_be_hidden()
    expect(page.locator("thead")).to_be_visible()
