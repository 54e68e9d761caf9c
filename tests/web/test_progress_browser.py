"""In headless Chromium against a live Herald (embedded worker) and the simulator: a campaign started from
the list moves its row live (figures, progress bar, pace, estimated finish); its stats page shows the
sending progress, then the bot's funnel as a chart and numbers; a click on a bot funnel bar, on a funnel
bar and on a not-sent reason opens those contacts, which export as CSV."""

from __future__ import annotations

import asyncio
import csv
import io
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from herald.auth import service as auth_service
from herald.auth.principal import Role
from herald.campaigns import service as campaign_service
from herald.campaigns.schemas import CampaignCreate
from herald.config import Settings
from herald.kit.db import Database
from herald.reports.export import HEADER
from herald.simulator import Scenario, SimulatorServer
from tests.conftest import TEST_FERNET_KEY, TEST_SECRET_KEY
from tests.dispatch.test_campaign_dispatch import VARIABLES, upload_banner
from tests.factories import (
    PROMO,
    graph_template,
    make_bot_flow,
    make_contacts,
    make_media,
    make_number,
    make_template,
)
from tests.live import live_server
from tests.web.browser import CHROMIUM, CHROMIUM_ARGS, screenshot, skip_without_browser

pytestmark = [pytest.mark.browser, pytest.mark.server, pytest.mark.slow, skip_without_browser()]

EMAIL, PASSWORD = "progress@acme.test", "progress-pass-1"
AUDIENCE = 150  # at the number's 5 a second: about 30 seconds to watch
MISSING_TAG = "valued tag 'customer_id' missing"


@pytest.fixture
def herald(tmp_path: Path, sqlite_template: Path) -> Iterator[tuple[str, Settings]]:
    db = tmp_path / "herald.db"
    shutil.copyfile(sqlite_template, db)
    settings = Settings(var_dir=tmp_path / "var", database_url=f"sqlite+aiosqlite:///{db}", secret_key=TEST_SECRET_KEY,
                        encryption_keys=TEST_FERNET_KEY, embedded_worker=True, allow_private_urls=True).resolved()
    with live_server(settings) as url:
        yield url, settings


@pytest.fixture
def sim(herald: tuple[str, Settings]) -> Iterator[SimulatorServer]:
    scenario = Scenario.model_validate({
        "templates": [graph_template()], "seed": 11, "read_probability": 0.6, "reply_probability": 0,
        "status_delays_ms": {"sent": 10, "delivered": 100, "read": 300, "reply": 400},
    })
    with SimulatorServer(scenario, webhook_url=f"{herald[0]}/webhooks/whatsapp", app_secret="sim-secret") as server:
        yield server


async def _seed(settings: Settings, sim_url: str) -> dict[str, Any]:
    """A user, an API key for the bot, and a ready campaign to 150 vips (every tenth lacking its customer_id)."""
    database = Database.connect(settings.database_url)
    async with database.session() as session:
        org = await auth_service.create_org(session, name="Acme", secret_key=TEST_SECRET_KEY)
        await auth_service.create_user(session, org_id=org.id, email=EMAIL, password=PASSWORD, role=Role.editor)
        _, key = await auth_service.create_api_key(session, org_id=org.id, role=Role.editor, name="bot",
                                                   secret_key=TEST_SECRET_KEY)
    number = await make_number(database, org_id=org.id, base_url=sim_url, throughput_mps=5)
    await make_template(database, org_id=org.id)
    media = await make_media(database, org_id=org.id, number_id=number, media_id=await upload_banner(sim_url))
    bot = await make_bot_flow(database, org_id=org.id)
    phones = [f"+1415556{i:04d}" for i in range(AUDIENCE)]
    await make_contacts(database, org_id=org.id, specs=[
        {"phone": phone, "name": f"Vip {i}", "tags": ["vip"],
         "valued_tags": {} if i % 10 == 9 else {"customer_id": str(100 + i)}} for i, phone in enumerate(phones)])
    async with database.session() as session:
        campaign = await campaign_service.create_campaign(session, org_id=org.id, data=CampaignCreate.model_validate({
            "name": "Spring sale", "whatsapp_number_id": number, "audience": {"tags_any": ["vip"]}, "template": PROMO,
            "variables": VARIABLES, "header_media_id": media, "bot_flow_id": bot}))
        assert campaign.status == "ready", campaign.missing
        campaign_id = campaign.id
    await database.dispose()
    return {"campaign": campaign_id, "key": key, "phones": phones}


@pytest.fixture
def seeded(herald: tuple[str, Settings], sim: SimulatorServer) -> dict[str, Any]:
    return asyncio.run(_seed(herald[1], sim.base_url))


@pytest.fixture
def page(herald: tuple[str, Settings], seeded: dict[str, Any]) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        context = browser.new_context(base_url=herald[0], viewport={"width": 1366, "height": 900}, accept_downloads=True)
        context.set_default_timeout(15_000)
        tab = context.new_page()
        tab.on("dialog", lambda dialog: dialog.accept())
        yield tab
        context.close()
        browser.close()


def number_in(locator: Any) -> int:
    return int(re.sub(r"\D", "", locator.inner_text()) or 0)


def click_bar(page: Any, canvas: str, index: int) -> None:
    """Clicks the middle of a Chart.js bar, where a person would."""
    page.wait_for_function(f"Chart.getChart(document.getElementById('{canvas}')) !== undefined")
    point = page.evaluate(
        """([id, index]) => { const bar = Chart.getChart(document.getElementById(id)).getDatasetMeta(0).data[index];
             const c = bar.getCenterPoint(); return { x: c.x, y: c.y }; }""", [canvas, index])
    chart = page.locator(f"#{canvas}")
    chart.scroll_into_view_if_needed()
    box = chart.bounding_box()  # in the viewport, where the mouse clicks
    page.mouse.click(box["x"] + point["x"], box["y"] + point["y"])


def test_progress_live_on_the_list_and_stats_drill_down(
    herald: tuple[str, Settings], seeded: dict[str, Any], page: Any
) -> None:
    from playwright.sync_api import expect

    expect.set_options(timeout=20_000)
    url = herald[0]
    campaign = seeded["campaign"]
    page.goto("/ui/login")
    page.get_by_label("Email").fill(EMAIL)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(re.compile(r"/ui/campaigns$"))

    # Item 7: started from the list, the row moves by itself.
    row = page.locator(f"tr[data-campaign='{campaign}']")
    row.get_by_role("button", name="Start now").click()
    expect(row).to_contain_text("Active")
    sent = row.locator("[data-progress=sent]")
    expect(sent).not_to_have_text("0")
    first = number_in(sent)
    expect(sent).not_to_have_text(str(first))  # no reload: the feed moved it
    expect(row.locator("[data-progress=pace_per_minute]")).to_have_text(re.compile(r"^\d[\d,.]*/(min|s)$"))
    expect(row.locator("[data-progress-finish]")).to_be_visible()
    done = row.locator("[data-progress=done_pct]")
    before = done.inner_text()
    expect(done).not_to_have_text(before)
    bar = float(row.locator("[data-progress-bar]").evaluate("bar => bar.value"))
    assert 0 < bar < 100 and done.inner_text() != "0%"
    screenshot(page, "progress-01-campaigns-live")

    # The stats page while it sends: a progress bar, the pace and the estimated finish.
    row.get_by_role("link", name="Stats of Spring sale").click()
    expect(page.locator("#progress-section")).to_be_visible()
    expect(page.locator("#eta")).to_be_visible()
    expect(page.locator("#eta time")).to_have_attribute("datetime", re.compile(r"^\d{4}-\d\d-\d\dT"))
    expect(page.locator("#live-text")).to_have_text("Live")
    expect(page.locator("#steps-empty")).to_be_visible()  # no step reported yet: no empty chart
    expect(page.locator("#steps-chart")).to_be_hidden()
    page.wait_for_function("Chart.getChart(document.getElementById('funnel-chart')) !== undefined")
    screenshot(page, "progress-02-stats-sending")
    expect(page.locator("[data-stat=pending]")).to_have_text("0", timeout=60_000)
    expect(page.locator("#reasons-body")).to_contain_text(MISSING_TAG)

    # Item 8: the bot reports funnel steps; the stats page charts them and gives the numbers.
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {seeded['key']}"}) as api:
        for phone in seeded["phones"][:3]:
            assert api.post(f"/api/v1/campaigns/{campaign}/funnel-events",
                            json={"phone": phone, "step": "offer_viewed"}).status_code == 201
        assert api.post(f"/api/v1/campaigns/{campaign}/funnel-events",
                        json={"phone": seeded["phones"][0], "step": "converted"}).status_code == 201
    page.reload()
    steps = page.locator("#steps-table")
    expect(steps.locator("tbody tr")).to_have_count(2)
    expect(steps.locator("tbody tr").first).to_contain_text("offer_viewed")
    expect(steps.locator("tbody tr").first).to_contain_text("3")
    expect(page.locator("#steps-chart")).to_be_visible()
    page.wait_for_function("Chart.getChart(document.getElementById('steps-chart')).data.labels.length === 2")
    screenshot(page, "progress-03-stats-funnel")

    # A click on the bot funnel's first bar opens the three who viewed the offer; they export as CSV.
    click_bar(page, "steps-chart", 0)
    expect(page).to_have_url(re.compile(rf"/ui/campaigns/{campaign}/contacts\?step=offer_viewed$"))
    expect(page.locator("#subset-summary")).to_contain_text("Reached “offer_viewed”: 3 contacts")
    expect(page.locator("#subset-table tbody tr")).to_have_count(3)
    screenshot(page, "progress-04-contacts-step")
    with page.expect_download() as download:
        page.get_by_role("link", name="Export these contacts").click()
    body = Path(download.value.path()).read_bytes()
    assert body.startswith(HEADER)
    rows = list(csv.reader(io.StringIO(body.decode())))
    assert sorted(row[1] for row in rows[1:]) == sorted(seeded["phones"][:3])

    # Filtered further on the page: of those, the ones who read it.
    page.locator("#outcome").select_option("read")
    page.get_by_role("button", name="Show").click()
    expect(page).to_have_url(re.compile(r"outcome=read&reason=&step=offer_viewed"))
    expect(page.locator("#subset-summary")).to_contain_text("Read · reached “offer_viewed”")

    # A click on the funnel's Sent bar opens every contact WhatsApp accepted.
    page.goto(f"/ui/campaigns/{campaign}/stats")
    page.wait_for_function("Chart.getChart(document.getElementById('funnel-chart')) !== undefined")
    accepted = number_in(page.locator("[data-stat=sent]").first)
    click_bar(page, "funnel-chart", 1)
    expect(page).to_have_url(re.compile(r"/contacts\?outcome=sent$"))
    expect(page.locator("#subset-summary")).to_contain_text(f"Sent: {accepted:,} contacts")

    # A not-sent reason opens its contacts: the fifteen vips without a customer_id.
    page.goto(f"/ui/campaigns/{campaign}/stats")
    page.locator("#reasons-body").get_by_role("link", name=MISSING_TAG).click()
    expect(page.locator("#subset-summary")).to_contain_text(f"Not sent: {MISSING_TAG}: 15 contacts")
    expect(page.locator("#subset-table tbody tr")).to_have_count(15)
    expect(page.locator("#subset-table")).to_contain_text("Vip 9")
    screenshot(page, "progress-05-contacts-reason")

    # Back on the list once it has all gone: 100 % done, no estimated finish any more.
    page.goto("/ui/campaigns")
    row = page.locator(f"tr[data-campaign='{campaign}']")
    expect(row.locator("[data-progress=done_pct]")).to_have_text("100%")
    expect(row.locator("[data-progress=not_sent]")).to_have_text("15")
    expect(row.locator("[data-progress-finish]")).to_be_hidden()
    screenshot(page, "progress-06-campaigns-done")
