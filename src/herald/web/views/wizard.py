"""The new-campaign wizard: basics → audience → message → bot flow → review. Every step saves.

A campaign exists from the first step on (a draft), so each later step is an edit through the same
service as ``PATCH /campaigns/{id}``, and draft ⇄ ready follows from what is filled in.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from herald.botflows import service as bot_flow_service
from herald.campaigns import followups, preview, readiness, service
from herald.campaigns.bindings import Assessment, Draft, assess
from herald.campaigns.lifecycle import EDITABLE, Status
from herald.campaigns.naming import shown
from herald.campaigns.schemas import Audience, CampaignCreate, CampaignUpdate, TemplateRef
from herald.contacts import service as contact_service
from herald.kit.deps import SessionDep
from herald.kit.errors import HeraldError
from herald.kit.types import parse_id
from herald.models import Campaign
from herald.numbers import service as number_service
from herald.quality.breaker import describe, settings_of
from herald.templates import service as template_service
from herald.web import message
from herald.web.deps import UiUser, UiWriter, WebUser, field_errors, redirect, render
from herald.web.views.breaker_form import breaker_from_form
from herald.web.views.wizard_previews import audience_context, message_context
from herald.web.wording import STEPS, invalid_input, step_of

router = APIRouter(prefix="/ui/campaigns")

NEXT = {"basics": "audience", "audience": "message", "message": "bot", "bot": "review"}


async def _numbers(session: AsyncSession, org_id: int) -> list[Any]:
    return (await number_service.list_numbers(session, org_id=org_id, cursor=None, limit=500))[0]


async def _step_context(session: AsyncSession, user: WebUser, campaign: Campaign | None, step: str) -> dict[str, Any]:
    org = user.principal.org_id
    draft = Draft.of(campaign) if campaign else Draft()
    assessment = await assess(session, org_id=org, draft=draft, campaign_id=campaign.id) if campaign else Assessment()
    context: dict[str, Any] = {"campaign": campaign, "step": step, "steps": STEPS, "assessment": assessment,
                               "step_of": step_of, "errors": {},
                               "lineage": await followups.lineage(session, campaign) if campaign else None}
    if step in ("basics", "review"):
        context["numbers"] = await _numbers(session, org)
    if step in ("audience", "review"):
        context["tags"] = await contact_service.list_tags(session, org_id=org)
        context["valued_tag_keys"] = await contact_service.list_valued_tags(session, org_id=org)
    if step in ("message", "review") and campaign is not None and campaign.whatsapp_number_id:
        rows, _ = await template_service.list_templates(
            session, org_id=org, whatsapp_number_id=campaign.whatsapp_number_id, usable=None,
            include_removed=False, cursor=None, limit=500)
        context["templates"] = rows
        context["valued_tag_keys"] = await contact_service.list_valued_tags(session, org_id=org)
    if step in ("bot", "review"):
        context["bot_flows"] = (await bot_flow_service.list_bot_flows(session, org_id=org, cursor=None, limit=500))[0]
    if step == "review" and campaign is not None:
        counts = await preview.preview_campaign(session, org_id=org, campaign_id=campaign.id)
        if readiness.is_nobody(assessment):
            context["nobody"] = readiness.nobody_reason(counts)
        context["cost"] = counts.cost
        context["test_hours"] = service.DEFAULT_AUTO_END_HOURS["test"]
    return context


async def page(request: Request, session: AsyncSession, user: WebUser, campaign: Campaign | None, step: str,
               errors: dict[str, str] | None = None, values: dict[str, Any] | None = None) -> HTMLResponse:
    if campaign is not None:
        # Ready means ready now: the badge and the review show what holds today (campaigns/readiness.py).
        campaign = await readiness.refresh(session, campaign)
    context = await _step_context(session, user, campaign, step)
    context["errors"] = errors or {}
    context["values"] = values or {}
    typed = values or {}
    if step in ("basics", "review"):
        context["breaker"] = settings_of(campaign.breaker if campaign is not None else None)
        context["breaker_open"] = any(key.split(".")[0] == "breaker" for key in errors or {})
        context["breaker_summary"] = describe(context["breaker"])
    if step == "audience" and campaign is not None:
        context["audience"] = typed.get("audience", campaign.audience) or {}
        context["known_keys"] = {v.key for v in context["valued_tag_keys"]}
        clause_keys = {str(c.get("key")) for c in context["audience"].get("valued_tags") or []}
        context["clause_values"] = {key: await contact_service.list_valued_tag_values(session, org_id=user.principal.org_id,
                                                                                  key=key)
                                    for key in sorted(clause_keys & context["known_keys"])}
        context.update(await audience_context(session, user, campaign, context["audience"]))
    if step == "message" and campaign is not None:
        context.update(await message_context(session, user, campaign, context["assessment"].template,
                                             typed.get("bindings") or campaign.variables or {}))
    return render(request, f"wizard/{step}.html", context, user=user, status_code=422 if errors else 200)


async def editable(session: AsyncSession, user: WebUser, campaign_id: int) -> Campaign:
    return await service.get_campaign(session, org_id=user.principal.org_id, campaign_id=campaign_id)


@router.get("/new", response_class=HTMLResponse)
async def new_campaign_page(request: Request, session: SessionDep, user: UiUser) -> HTMLResponse:
    return await page(request, session, user, None, "basics")


def _number_id(raw: Any) -> int | None:
    return parse_id(raw)


@router.post("/new", response_class=HTMLResponse)
async def create(request: Request, session: SessionDep, user: UiWriter) -> Response:
    form = await request.form()
    values = {"name": str(form.get("name") or ""), "whatsapp_number_id": _number_id(form.get("whatsapp_number_id")),
              **_retry_days(form), **_holdout(form), **_exempt(form, user), **_window(form),
              **_breaker(form)}
    try:
        data = CampaignCreate(**values)
        campaign = await service.create_campaign(session, org_id=user.principal.org_id, data=data)
    except ValidationError as exc:
        return await page(request, session, user, None, "basics", invalid_input(exc), _typed(form, "basics", None))
    except HeraldError as exc:
        await session.rollback()
        return await page(request, session, user, None, "basics", field_errors(exc), _typed(form, "basics", None))
    return redirect(f"/ui/campaigns/{campaign.id}/edit/audience", request, ok="Draft saved.")


def _exempt(form: Any, user: WebUser) -> dict[str, Any]:
    """The frequency cap exemption, which only an admin sees and sets (campaigns/frequency_cap.py)."""
    return {"frequency_cap_exempt": form.get("frequency_cap_exempt") == "on"} if user.is_admin else {}


def _window(form: Any) -> dict[str, Any]:
    """The send window's fieldset (campaigns/send_window.py): start and end both empty, no window.
    The weekdays are only sent with a window: none ticked then is an error naming them."""
    if "window_start" not in form and "window_end" not in form:  # not this form's: left as it is
        return {}
    start = str(form.get("window_start") or "").strip()[:5] or None
    end = str(form.get("window_end") or "").strip()[:5] or None
    action = str(form.get("window_end_action") or "carry_on")
    if start is None and end is None:
        return {"window_start": None, "window_end": None, "window_weekdays": None, "window_end_action": "carry_on"}
    return {"window_start": start, "window_end": end, "window_weekdays": [str(d) for d in form.getlist("window_weekdays")],
            "window_end_action": action}
def _breaker(form: Any) -> dict[str, Any]:
    return breaker_from_form(form)


def _holdout(form: Any) -> dict[str, Any]:
    """The holdout share when the form gives one (validated by the campaign schema: 0 to 50)."""
    raw = str(form.get("holdout_percent") or "").strip()
    return {"holdout_percent": raw} if raw else {}


def _retry_days(form: Any) -> dict[str, Any]:
    """The 131049 retry deadline when the form gives one (validated by the campaign schema)."""
    raw = str(form.get("marketing_retry_days") or "").strip()
    return {"marketing_retry_days": raw} if raw else {}


@router.get("/{campaign_id}/edit/{step}", response_class=HTMLResponse)
async def step_page(request: Request, campaign_id: int, step: str, session: SessionDep, user: UiUser) -> Response:
    campaign = await editable(session, user, campaign_id)
    if step not in dict(STEPS):
        return redirect(f"/ui/campaigns/{campaign_id}/edit/basics")
    if campaign.status not in EDITABLE:
        return redirect(f"/ui/campaigns/{campaign_id}/stats", error=f"A campaign that is {campaign.status} cannot be edited.")
    return await page(request, session, user, campaign, step)


def _valued_clauses(form: Any) -> list[dict[str, Any]]:
    """One valued tag clause per key picked: with a value, that value; without, has the key."""
    keys, values = form.getlist("vt_key"), form.getlist("vt_value")
    clauses = []
    for i, key in enumerate(keys):
        value = str(values[i]).strip() if i < len(values) else ""
        if str(key).strip():
            clauses.append({"key": str(key).strip(), "value": value or None})
    return clauses


def _audience(form: Any) -> Audience:
    return Audience(tags_any=form.getlist("tags_any"), tags_all=form.getlist("tags_all"),
                    valued_tags=_valued_clauses(form))


def _typed(form: Any, step: str, campaign: Campaign | None) -> dict[str, Any]:
    """What the form gave, to show again as typed when the step is refused."""
    values: dict[str, Any] = {k: form.get(k) for k in form}
    if step == "basics":
        values["window_weekdays_list"] = form.getlist("window_weekdays")
    if step == "audience":
        values["audience"] = {"tags_any": form.getlist("tags_any"), "tags_all": form.getlist("tags_all"),
                              "valued_tags": _valued_clauses(form)}
    if step == "message":
        ref = message.split_template_key(str(form.get("template") or ""))
        names = [n for n in str(form.get("positions") or "").split(",") if n]
        same = campaign is not None and ref == (campaign.template_name, campaign.template_language)
        values["bindings"] = message.bindings_from_form(form, names) if same else None
    return values


async def _update(form: Any, step: str, campaign: Campaign, user: WebUser) -> CampaignUpdate:
    if step == "basics":
        return CampaignUpdate(name=str(form.get("name") or ""), whatsapp_number_id=_number_id(form.get("whatsapp_number_id")),
                              **_retry_days(form), **_holdout(form), **_exempt(form, user), **_window(form),
                              **_breaker(form))
    if step == "audience":
        return CampaignUpdate(audience=_audience(form))
    if step == "message":
        ref = message.split_template_key(str(form.get("template") or ""))
        if ref is None:
            return CampaignUpdate(template=None, variables={}, header_media_id=None)
        changed = ref != (campaign.template_name, campaign.template_language)
        names = [n for n in str(form.get("positions") or "").split(",") if n]
        update: dict[str, Any] = {"template": TemplateRef(name=ref[0], language=ref[1]),
                                  "variables": message.bindings_from_form(form, names)}
        if changed:
            update["header_media_id"] = None
        return CampaignUpdate(**update)
    if step == "bot":
        return CampaignUpdate(bot_flow_id=_number_id(form.get("bot_flow_id")))
    return CampaignUpdate()


@router.post("/{campaign_id}/edit/{step}", response_class=HTMLResponse)
async def save_step(request: Request, campaign_id: int, step: str, session: SessionDep, user: UiWriter) -> Response:
    campaign = await editable(session, user, campaign_id)
    form = await request.form()
    values = _typed(form, step, campaign)
    try:
        data = await _update(form, step, campaign, user)
        saved = await service.update_campaign(session, org_id=user.principal.org_id, campaign_id=campaign_id, data=data)
    except ValidationError as exc:
        return await page(request, session, user, campaign, step, invalid_input(exc), values)
    except HeraldError as exc:
        await session.rollback()
        campaign = await editable(session, user, campaign_id)
        return await page(request, session, user, campaign, step, field_errors(exc), values)
    if step == "review" or form.get("finish"):
        label = "Ready to Launch" if saved.status == Status.ready else "Draft"
        return redirect("/ui/campaigns", request, ok=f"“{shown(saved.name)}” saved: {label}.")
    return redirect(f"/ui/campaigns/{campaign_id}/edit/{NEXT.get(step, 'review')}", request)
