"""Header media in the wizard's message step, over HTTP: the demo's catalog (a video header, the offer in
two languages), the upload the step sends (CSRF, the header's kind, the template picked and not yet
saved), and the file the preview shows."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from herald.auth.principal import Role
from herald.demo import data, video
from herald.kit.db import Database
from herald.media import service as media_service
from herald.models import Campaign
from herald.simulator import SimulatorServer
from tests.conftest import OrgHandle
from tests.factories import make_template
from tests.numbers.helpers import sim_media_count
from tests.web.conftest import Browser
from tests.web.helpers import log_in, make_user, page_csrf

PDF = b"%PDF-1.4\n" + b"x" * 100


@pytest.fixture
def sim() -> Iterator[SimulatorServer]:
    with SimulatorServer(data.scenario(10), webhook_url=None, app_secret=data.APP_SECRET) as server:
        yield server


@pytest.fixture
async def number_id(client: httpx.AsyncClient, org: OrgHandle, sim: SimulatorServer) -> int:
    """The demo's number, its templates synced from the simulator as the demo does."""
    answer = await client.post("/api/v1/whatsapp-numbers", headers=org.auth, json={
        "display_phone_number": data.DISPLAY_PHONE_NUMBER, "phone_number_id": data.PHONE_NUMBER_ID,
        "waba_id": data.WABA_ID, "access_token": data.ACCESS_TOKEN, "app_secret": data.APP_SECRET,
        "verify_token": data.VERIFY_TOKEN, "graph_api_base": sim.base_url})
    assert answer.status_code == 201, answer.text
    number: int = answer.json()["id"]
    synced = await client.post(f"/api/v1/whatsapp-numbers/{number}/sync-templates", headers=org.auth)
    assert synced.status_code == 200, synced.text
    return number


async def new_campaign(client: httpx.AsyncClient, org: OrgHandle, number_id: int, template: str | None) -> int:
    body: dict[str, Any] = {"name": "Teaser", "whatsapp_number_id": number_id}
    if template:
        name, language = template.split("|")
        body["template"] = {"name": name, "language": language}
    answer = await client.post("/api/v1/campaigns", json=body, headers=org.auth)
    assert answer.status_code == 201, answer.text
    return int(answer.json()["id"])


async def send_file(editor: httpx.AsyncClient, campaign_id: int, template: str, name: str, content: bytes,
                    mime: str, *, csrf: bool = True, partial: bool = True) -> httpx.Response:
    token = await page_csrf(editor, f"/ui/campaigns/{campaign_id}/edit/message")
    headers = {"X-CSRF-Token": token} if csrf else {}
    if partial:
        headers["HX-Request"] = "true"
    return await editor.post(f"/ui/campaigns/{campaign_id}/media", headers=headers,
                             data={"csrf_token": token, "template": template}, files={"file": (name, content, mime)})


async def header_of(database: Database, campaign_id: int) -> tuple[int | None, str | None, str | None]:
    async with database.session() as session:
        campaign = await session.get(Campaign, campaign_id)
        assert campaign is not None
        return campaign.header_media_id, campaign.template_name, campaign.template_language


async def test_the_demo_syncs_a_video_header_and_the_offer_in_two_languages(
    client: httpx.AsyncClient, org: OrgHandle, number_id: int
) -> None:
    listed = (await client.get("/api/v1/templates", headers=org.auth)).json()["items"]
    usable = {(t["name"], t["language"]): t for t in listed if t["usable"]}
    assert {("winter_sale", "en_US"), ("winter_sale", "pt_BR"), ("winter_teaser", "en_US")} <= set(usable)
    assert usable[("winter_teaser", "en_US")]["header_format"] == "VIDEO"
    assert usable[("winter_sale", "pt_BR")]["header_format"] == "IMAGE"


def test_the_demo_teaser_is_a_video_whatsapp_takes() -> None:
    teaser = video.teaser_mp4()
    checked = media_service.checked_media_file("winter-teaser.mp4", "video/mp4", teaser)
    assert checked.mime_type == "video/mp4" and len(teaser) < 16 * 1024 * 1024
    assert b"avc1" in teaser and b"avcC" in teaser  # H.264, the codec WhatsApp takes in an MP4


async def test_the_step_shows_the_upload_for_a_media_template_picked_and_not_yet_saved(
    client: httpx.AsyncClient, org: OrgHandle, number_id: int, browser: Browser
) -> None:
    campaign_id = await new_campaign(client, org, number_id, "welcome|en_US")
    editor = await browser(Role.editor)
    page = await editor.get(f"/ui/campaigns/{campaign_id}/edit/message")
    assert 'id="header-file"' not in page.text  # welcome has no media header
    token = await page_csrf(editor, f"/ui/campaigns/{campaign_id}/edit/message")
    picked = await editor.post(f"/ui/campaigns/{campaign_id}/message-preview", headers={"X-CSRF-Token": token},
                               data={"template": "winter_teaser|en_US", "part": "bindings"})
    assert picked.status_code == 200
    assert 'id="header-file"' in picked.text and 'accept="video/mp4,video/3gpp"' in picked.text
    assert 'form="media-form"' in picked.text and "video header: not uploaded yet" in picked.text


async def test_uploading_saves_the_picked_template_with_its_header_and_the_preview_shows_the_video(
    client: httpx.AsyncClient, org: OrgHandle, number_id: int, browser: Browser, database: Database,
    sim: SimulatorServer, other_org: OrgHandle, app: FastAPI,
) -> None:
    campaign_id = await new_campaign(client, org, number_id, "welcome|en_US")
    editor = await browser(Role.editor)
    teaser = video.teaser_mp4()
    answer = await send_file(editor, campaign_id, "winter_teaser|en_US", "winter-teaser.mp4", teaser, "video/mp4")
    assert answer.status_code == 200, answer.text
    assert "Uploaded winter-teaser.mp4 as the header." in answer.text and "Current header:" in answer.text
    media_id, name, language = await header_of(database, campaign_id)
    assert media_id is not None and (name, language) == ("winter_teaser", "en_US")
    assert sim_media_count(sim) == 1

    token = await page_csrf(editor, f"/ui/campaigns/{campaign_id}/edit/message")
    preview = await editor.post(f"/ui/campaigns/{campaign_id}/message-preview", headers={"X-CSRF-Token": token},
                                data={"template": "winter_teaser|en_US"})
    assert f'src="/ui/media/{media_id}/file" preload="metadata"' in preview.text and "<video" in preview.text
    shown = await editor.get(f"/ui/media/{media_id}/file")
    assert shown.status_code == 200 and shown.content == teaser
    assert shown.headers["content-type"] == "video/mp4"
    assert shown.headers["content-disposition"].startswith("inline;")
    assert shown.headers["x-content-type-options"] == "nosniff"

    outsider = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://herald.test")
    async with outsider:
        assert (await outsider.get(f"/ui/media/{media_id}/file")).status_code == 303  # to the login page
        email = await make_user(database, org_id=other_org.id, role=Role.admin, email="eve@other.test")
        await log_in(outsider, email)
        assert (await outsider.get(f"/ui/media/{media_id}/file")).status_code == 404


async def test_a_file_of_another_kind_is_refused_next_to_the_field_before_anything_is_sent(
    client: httpx.AsyncClient, org: OrgHandle, number_id: int, browser: Browser, database: Database,
    sim: SimulatorServer,
) -> None:
    campaign_id = await new_campaign(client, org, number_id, "winter_teaser|en_US")
    editor = await browser(Role.editor)
    answer = await send_file(editor, campaign_id, "winter_teaser|en_US", "banner.png", data.banner_png(), "image/png")
    assert answer.status_code == 422
    assert 'id="file-error"' in answer.text and "needs an MP4 or 3GPP video" in answer.text
    assert 'aria-invalid="true"' in answer.text
    assert sim_media_count(sim) == 0
    assert (await header_of(database, campaign_id))[0] is None
    # Without the page's script, the form's post comes back to the step with the reason.
    plain = await send_file(editor, campaign_id, "winter_teaser|en_US", "banner.png", data.banner_png(), "image/png",
                            partial=False)
    assert plain.status_code == 303 and plain.headers["location"].endswith(f"/ui/campaigns/{campaign_id}/edit/message")


async def test_the_upload_needs_the_csrf_header(
    client: httpx.AsyncClient, org: OrgHandle, number_id: int, browser: Browser, database: Database,
    sim: SimulatorServer,
) -> None:
    campaign_id = await new_campaign(client, org, number_id, "winter_teaser|en_US")
    editor = await browser(Role.editor)
    answer = await send_file(editor, campaign_id, "winter_teaser|en_US", "teaser.mp4", video.teaser_mp4(),
                             "video/mp4", csrf=False)
    assert answer.status_code == 403
    assert sim_media_count(sim) == 0 and (await header_of(database, campaign_id))[0] is None


async def test_a_document_header_shows_its_name_and_type(
    client: httpx.AsyncClient, org: OrgHandle, number_id: int, browser: Browser, database: Database,
) -> None:
    await make_template(database, org_id=org.id, waba_id=data.WABA_ID, name="price_list", language="es",
                        variables=[], header_format="DOCUMENT",
                        components=[{"type": "HEADER", "format": "DOCUMENT"}, {"type": "BODY", "text": "Precios"}])
    campaign_id = await new_campaign(client, org, number_id, None)
    editor = await browser(Role.editor)
    answer = await send_file(editor, campaign_id, "price_list|es", "precios-2026.pdf", PDF, "application/pdf")
    assert answer.status_code == 200, answer.text
    page = await editor.get(f"/ui/campaigns/{campaign_id}/edit/message")
    bubble = page.text.split('id="preview-bubble"', 1)[1]
    assert "precios-2026.pdf" in bubble and "PDF document" in bubble
    media_id = (await header_of(database, campaign_id))[0]
    download = await editor.get(f"/ui/media/{media_id}/file")
    assert download.headers["content-disposition"].startswith("attachment;")
