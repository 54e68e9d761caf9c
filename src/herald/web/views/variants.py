"""The A/B variants editor of a draft or ready campaign: the variants listed with their shares, an
"add variant" form that reuses the message step's template and bindings controls, and removal.

Variant A is the campaign's own message (its template and bindings as the message step sets them);
adding the first variant adds A with it. Every change goes through ``PATCH /campaigns/{id}``'s
service, so the schema's rules (2 to 4 variants, shares all or none, summing to 100) and the
readiness checks are the API's.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from herald.campaigns import experiment, readiness, service
from herald.campaigns.lifecycle import EDITABLE
from herald.campaigns.schemas import CampaignUpdate, TemplateRef, VariantIn
from herald.kit.deps import SessionDep
from herald.kit.errors import HeraldError
from herald.models import Campaign
from herald.templates import service as template_service
from herald.web import message
from herald.web.deps import UiUser, UiWriter, WebUser, field_errors, redirect, render
from herald.web.views.wizard import editable
from herald.web.views.wizard_live import _template_for
from herald.web.views.wizard_previews import message_context
from herald.web.wording import STEPS, invalid_input, step_of

router = APIRouter(prefix="/ui/campaigns")


def _listed(campaign: Campaign) -> list[dict[str, Any]]:
    """The variants as the page lists them: name, template shown, share, bound texts."""
    stored = campaign.variants or []
    shares = experiment.shares_of(stored) if stored else []
    rows = []
    for index, variant in enumerate(stored):
        main = experiment.is_main_message(variant)
        template = variant.get("template_name") or campaign.template_name or ""
        variables = campaign.variables if main else variant.get("variables") or {}
        texts = [f"{{{{{n}}}}} = {b.get('value') or b.get('key') or 'contact name'}" for n, b in sorted(variables.items())]
        rows.append({"index": index, "name": experiment.VARIANT_NAMES[index], "main": main, "template": template,
                     "share": round(shares[index], 2), "given_share": variant.get("share"), "texts": texts})
    return rows


async def _page(request: Request, session: AsyncSession, user: WebUser, campaign: Campaign,
                errors: dict[str, str] | None = None, template_key: str | None = None) -> HTMLResponse:
    campaign = await readiness.refresh(session, campaign)
    key = template_key or (f"{campaign.template_name}|{campaign.template_language}" if campaign.template_name else "")
    template = await _template_for(session, user, campaign, key)
    same = message.split_template_key(key) == (campaign.template_name, campaign.template_language)
    context = await message_context(session, user, campaign, template, (campaign.variables or {}) if same else {})
    templates: list[Any] = []
    if campaign.whatsapp_number_id:
        templates, _ = await template_service.list_templates(
            session, org_id=user.principal.org_id, whatsapp_number_id=campaign.whatsapp_number_id, usable=None,
            include_removed=False, cursor=None, limit=500)
    context.update(campaign=campaign, step="message", steps=STEPS, step_of=step_of, variants=_listed(campaign), templates=templates, current=key,
                   errors=errors or {}, can_add=len(campaign.variants or []) < experiment.MAX_VARIANTS,
                   missing=[m for m in campaign.missing or [] if m.startswith("variants.")])
    return render(request, "wizard/variants.html", context, user=user, status_code=422 if errors else 200)


async def _editable(session: AsyncSession, user: WebUser, campaign_id: int) -> Campaign | Response:
    campaign = await editable(session, user, campaign_id)
    if campaign.status not in EDITABLE:
        return redirect(f"/ui/campaigns/{campaign_id}/stats",
                        error=f"A campaign that is {campaign.status} cannot be edited.")
    return campaign


@router.get("/{campaign_id}/variants", response_class=HTMLResponse)
async def variants_page(request: Request, campaign_id: int, session: SessionDep, user: UiUser) -> Response:
    campaign = await _editable(session, user, campaign_id)
    if not isinstance(campaign, Campaign):
        return campaign
    return await _page(request, session, user, campaign)


def _as_input(variant: dict[str, Any], share: Any = None) -> VariantIn:
    template = None
    if variant.get("template_name"):
        template = TemplateRef(name=variant["template_name"], language=variant.get("template_language") or "")
    return VariantIn(template=template, variables=variant.get("variables") or {}, share=share)


async def _save(request: Request, session: AsyncSession, user: WebUser, campaign: Campaign,
                build: Any, template_key: str | None = None) -> Response:
    try:
        data = CampaignUpdate(variants=build())
        await service.update_campaign(session, org_id=user.principal.org_id, campaign_id=campaign.id, data=data)
    except ValidationError as exc:
        return await _page(request, session, user, campaign, invalid_input(exc), template_key)
    except HeraldError as exc:
        await session.rollback()
        campaign = await editable(session, user, campaign.id)
        return await _page(request, session, user, campaign, field_errors(exc), template_key)
    return redirect(f"/ui/campaigns/{campaign.id}/variants", request, ok="Variants saved.")


def _share(raw: Any) -> str | None:
    """As typed: the schema reads the number (a 422 naming ``variants`` when it is not one)."""
    text = str(raw or "").strip()
    return text or None


@router.post("/{campaign_id}/variants", response_class=HTMLResponse)
async def add_variant(request: Request, campaign_id: int, session: SessionDep, user: UiWriter) -> Response:
    """Adds a variant: the template picked (the campaign's own when unchanged) and its bindings."""
    campaign = await _editable(session, user, campaign_id)
    if not isinstance(campaign, Campaign):
        return campaign
    form = await request.form()
    key = str(form.get("template") or "")
    ref = message.split_template_key(key)
    names = [n for n in str(form.get("positions") or "").split(",") if n]
    bound = message.bindings_from_form(form, names)
    own = ref is not None and ref != (campaign.template_name, campaign.template_language)
    added = {"template_name": ref[0] if own and ref else None, "template_language": ref[1] if own and ref else None,
             "variables": bound}

    def build() -> list[VariantIn]:
        stored = list(campaign.variants or [{}])  # the first addition brings variant A, the campaign's message
        shares = [v.get("share") for v in stored] + [_share(form.get("share"))]
        return [_as_input(v, shares[i]) for i, v in enumerate([*stored, added])]

    return await _save(request, session, user, campaign, build, key)


@router.post("/{campaign_id}/variants/shares", response_class=HTMLResponse)
async def set_shares(request: Request, campaign_id: int, session: SessionDep, user: UiWriter) -> Response:
    """Each variant's share (all given, summing to 100), or none for an even split."""
    campaign = await _editable(session, user, campaign_id)
    if not isinstance(campaign, Campaign):
        return campaign
    form = await request.form()
    stored = list(campaign.variants or [])

    def build() -> list[VariantIn]:
        return [_as_input(v, _share(form.get(f"share_{i}"))) for i, v in enumerate(stored)]

    return await _save(request, session, user, campaign, build)


@router.post("/{campaign_id}/variants/{index}/remove", response_class=HTMLResponse)
async def remove_variant(request: Request, campaign_id: int, index: int, session: SessionDep, user: UiWriter) -> Response:
    """Removes one variant (the shares go back to an even split); one left means no A/B test."""
    campaign = await _editable(session, user, campaign_id)
    if not isinstance(campaign, Campaign):
        return campaign
    stored = [v for i, v in enumerate(campaign.variants or []) if i != index]

    def build() -> list[VariantIn]:
        return [_as_input(v) for v in stored] if len(stored) >= experiment.MIN_VARIANTS else []

    return await _save(request, session, user, campaign, build)
