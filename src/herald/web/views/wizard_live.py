"""The wizard's live parts: audience counts, the message preview, header media upload, and test sends."""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import UploadFile

from herald.campaigns import service, transitions
from herald.campaigns.bindings import MEDIA_HEADERS, Draft, assess
from herald.campaigns.schemas import CampaignUpdate, TemplateRef
from herald.contacts import service as contact_service
from herald.contacts.rules import MAX_VALUED_TAG_KEY_LENGTH
from herald.kit.crypto import SecretBox
from herald.kit.deps import SecretBoxDep, SessionDep
from herald.kit.errors import HeraldError, Invalid
from herald.kit.text import plural
from herald.media import service as media_service
from herald.media.limits import accepted_for, header_kind
from herald.models import Campaign, Media, Template
from herald.numbers import service as numbers_service
from herald.numbers.deps import CloudClientDep
from herald.web import message
from herald.web.deps import UiPoster, UiUser, UiWriter, WebUser, field_errors, redirect, render
from herald.web.views.wizard import _audience, editable, page
from herald.web.views.wizard_previews import audience_context, message_context
from herald.whatsapp import CloudAPIClient

router = APIRouter(prefix="/ui/campaigns")


@router.post("/{campaign_id}/audience-preview", response_class=HTMLResponse)
async def audience_preview(request: Request, campaign_id: int, session: SessionDep, user: UiPoster) -> HTMLResponse:
    campaign = await editable(session, user, campaign_id)
    form = await request.form()
    try:
        audience: dict[str, Any] | None = _audience(form).stored()
    except ValidationError:
        audience = None
    context = await audience_context(session, user, campaign, audience)
    return render(request, "wizard/_audience_counts.html", context, user=user)


@router.get("/{campaign_id}/valued-tag-values", response_class=HTMLResponse)
async def valued_tag_values(
    request: Request, campaign_id: int, session: SessionDep, user: UiUser, vt_key: str = "",
) -> HTMLResponse:
    """The options of a clause's value list once its key is picked: the key's values, most common first."""
    await editable(session, user, campaign_id)
    key = vt_key.strip()[:MAX_VALUED_TAG_KEY_LENGTH]
    values = await contact_service.list_valued_tag_values(session, org_id=user.principal.org_id, key=key) if key else []
    return render(request, "wizard/_valued_tag_values.html", {"values": values}, user=user)


async def _template_for(session: AsyncSession, user: WebUser, campaign: Campaign, key: str) -> Template | None:
    ref = message.split_template_key(key)
    if ref is None:
        return None
    draft = Draft.of(campaign)
    draft.template_name, draft.template_language, draft.variables = ref[0], ref[1], {}
    return (await assess(session, org_id=user.principal.org_id, draft=draft)).template


@router.post("/{campaign_id}/message-preview", response_class=HTMLResponse)
async def message_preview(request: Request, campaign_id: int, session: SessionDep, user: UiPoster) -> HTMLResponse:
    """``part=bindings`` after a template change (fields + preview), else the preview alone."""
    campaign = await editable(session, user, campaign_id)
    form = await request.form()
    key = str(form.get("template") or "")
    template = await _template_for(session, user, campaign, key)
    same = message.split_template_key(key) == (campaign.template_name, campaign.template_language)
    if form.get("part") == "bindings":
        bindings = (campaign.variables or {}) if same else {}
    else:
        bindings = message.bindings_from_form(form, message.positions(template))
    context = await message_context(session, user, campaign, template, bindings)
    context["campaign"] = campaign
    name = "wizard/_bindings.html" if form.get("part") == "bindings" else "wizard/_message_preview.html"
    return render(request, name, context, user=user)


@router.post("/{campaign_id}/media", response_class=HTMLResponse)
async def upload_header_media(
    request: Request, campaign_id: int, session: SessionDep, box: SecretBoxDep, client: CloudClientDep,
    user: UiWriter,
) -> Response:
    """Upload the header of the template chosen in the message step, and save that choice with it.

    The form sends the file and the template picked in the step's select (saved or not yet): the
    campaign gets both, its typed variables stay in the page until the step is saved. The page's
    script asks for the media section alone (``HX-Request``) and swaps it in; a plain form post is
    redirected back to the step.
    """
    campaign = await editable(session, user, campaign_id)
    org = user.principal.org_id
    # Parsed only now that the session, the CSRF header and the campaign are checked; the body limit
    # (app.body_routes) cuts it off past the largest media WhatsApp takes.
    async with request.form(max_files=1, max_fields=5) as form:
        key = str(form.get("template") or "")
        template = await _template_for(session, user, campaign, key) if key else None
        if template is None and campaign.template_name:
            key = f"{campaign.template_name}|{campaign.template_language}"
            template = await _template_for(session, user, campaign, key)
        upload = form.get("file")
        try:
            media = await _upload(session, box, client, org, campaign, template, upload)
            ref = message.split_template_key(key)
            update: dict[str, Any] = {"header_media_id": media.id}
            if ref is not None and ref != (campaign.template_name, campaign.template_language):
                update.update(template=TemplateRef(name=ref[0], language=ref[1]), variables={})
            await service.update_campaign(session, org_id=org, campaign_id=campaign_id, data=CampaignUpdate(**update))
        except HeraldError as exc:
            await session.rollback()
            return await _media_answer(request, session, user, campaign_id, key, error=exc.message)
    return await _media_answer(request, session, user, campaign_id, key, ok=f"Uploaded {media.filename} as the header.")


async def _upload(session: AsyncSession, box: SecretBox, client: CloudAPIClient, org: int, campaign: Campaign,
                  template: Template | None, upload: Any) -> Media:
    """The file checked against WhatsApp's limits and the template's header kind, sent to the number, recorded."""
    if template is None or template.header_format not in MEDIA_HEADERS:
        raise Invalid("choose a template with an image, video or document header first", field="template")
    kind = template.header_format.lower()
    if not isinstance(upload, UploadFile) or not upload.filename:
        raise Invalid(f"choose {accepted_for(kind)[1]} to upload", field="file")
    number_id = campaign.whatsapp_number_id or 0
    creds = await numbers_service.credentials_for(session, box, org_id=org, number_id=number_id)
    if upload.size is not None:
        _check_kind(media_service.checked_media_type(upload.content_type, upload.filename, upload.size), kind)
    await session.commit()  # no transaction (on SQLite, no write lock) held while the file is read and sent
    media_file = media_service.checked_media_file(upload.filename, upload.content_type, await upload.read())
    _check_kind(media_file.mime_type, kind)
    media_id = await media_service.send_media(client, creds, media_file)
    return await media_service.record_media(session, org_id=org, number_id=number_id, creds=creds,
                                            media_file=media_file, media_id=media_id)


def _check_kind(mime: str, kind: str) -> None:
    if header_kind(mime) != kind:
        raise Invalid(f"this template's header needs {accepted_for(kind)[1]}; the file is {mime}",
                      field="file", code="media_rejected")


async def _media_answer(request: Request, session: AsyncSession, user: WebUser, campaign_id: int, key: str, *,
                        ok: str | None = None, error: str | None = None) -> Response:
    back = f"/ui/campaigns/{campaign_id}/edit/message"
    if not request.headers.get("hx-request"):
        return redirect(back, request, ok=ok, error=f"Upload refused: {error}" if error else None)
    campaign = await editable(session, user, campaign_id)
    template = await _template_for(session, user, campaign, key)
    context = await message_context(session, user, campaign, template, campaign.variables or {})
    context.update(campaign=campaign, template_key=key, upload_ok=ok, errors={"file": error} if error else {})
    return render(request, "wizard/_header_media.html", context, user=user, status_code=422 if error else 200)


@router.post("/{campaign_id}/test", response_class=HTMLResponse)
async def send_test(request: Request, campaign_id: int, session: SessionDep, user: UiWriter) -> Response:
    campaign = await editable(session, user, campaign_id)
    form = await request.form()
    raw = str(form.get("phones") or "")
    phones = [p for p in re.split(r"[\s,;]+", raw) if p]
    if not phones:
        return await page(request, session, user, campaign, "review", {"phones": "Give at least one phone number."},
                          {"phones": raw})
    try:
        test = await transitions.send_test(session, org_id=user.principal.org_id, campaign_id=campaign_id,
                                           phones=phones[:50])
    except HeraldError as exc:
        await session.rollback()
        errors = field_errors(exc)
        errors["phones"] = "; ".join(d["message"] for d in (exc.details or []) if isinstance(d, dict)) or exc.message
        campaign = await editable(session, user, campaign_id)
        return await page(request, session, user, campaign, "review", errors, {"phones": raw})
    return redirect(f"/ui/campaigns/{test.id}/stats", request,
                    ok=f"Test sent to {plural(len(test.test_contact_ids or []), 'contact')}: “{test.name}”.")
