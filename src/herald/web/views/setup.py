"""Templates (sync, usable or why not, preview), WhatsApp numbers and bot flows (secrets write-only)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from herald.botflows import service as bot_flow_service
from herald.botflows.schemas import BotFlowCreate, BotFlowUpdate
from herald.kit.deps import OutboundDep, SecretBoxDep, SessionDep, SettingsDep
from herald.kit.errors import HeraldError, Invalid
from herald.kit.outbound import OutboundPolicy
from herald.kit.types import parse_id
from herald.numbers import meta_events as number_events
from herald.numbers import service as number_service
from herald.numbers.deps import CloudClientDep
from herald.numbers.schemas import WhatsAppNumberCreate, WhatsAppNumberUpdate
from herald.templates import meta_events as template_events
from herald.templates import service as template_service
from herald.templates.parsing import body_text
from herald.web.deps import UiUser, UiWriter, WebUser, field_errors, redirect, render

router = APIRouter(prefix="/ui")
NUMBER_FIELDS = ("display_phone_number", "phone_number_id", "waba_id", "access_token", "app_secret", "verify_token",
                 "graph_api_base", "graph_api_version")
BOT_FLOW_FIELDS = ("name", "webhook_url", "secret")


def _validation_errors(exc: ValidationError) -> dict[str, str]:
    errors = {"": "Some fields need attention."}
    for error in exc.errors():
        errors.setdefault(".".join(str(p) for p in error["loc"]), error["msg"].removeprefix("Value error, "))
    return errors


async def _given(request: Request, fields: tuple[str, ...]) -> dict[str, str]:
    """Non-empty fields only: a secret left blank keeps the stored one."""
    form = await request.form()
    return {f: str(form.get(f)).strip() for f in fields if str(form.get(f) or "").strip()}


async def _numbers(session: AsyncSession, org_id: int) -> list[Any]:
    return (await number_service.list_numbers(session, org_id=org_id, cursor=None, limit=500))[0]


@router.get("/templates", response_class=HTMLResponse)
async def templates_page(request: Request, session: SessionDep, user: UiUser, number: int | None = None) -> HTMLResponse:
    org = user.principal.org_id
    numbers = await _numbers(session, org)
    rows, _ = await template_service.list_templates(session, org_id=org, whatsapp_number_id=number, usable=None,
                                                    include_removed=False, cursor=None, limit=500)
    previews = {t.id: body_text(t.components or []) for t in rows}
    return render(request, "setup/templates.html", {"numbers": numbers, "templates": rows, "number": number,
                                                      "previews": previews}, user=user)


@router.get("/templates/{template_id}", response_class=HTMLResponse)
async def template_page(request: Request, template_id: int, session: SessionDep, user: UiUser) -> HTMLResponse:
    """Status, quality and category as Meta last said, and the history of what it said."""
    org = user.principal.org_id
    template = await template_service.get_template(session, org_id=org, template_id=template_id)
    events = await template_events.history(session, org_id=org, template_id=template_id)
    return render(request, "setup/template.html", {"template": template, "events": events,
                                                     "preview": body_text(template.components or [])}, user=user)


@router.post("/templates/sync")
async def sync_templates(request: Request, session: SessionDep, box: SecretBoxDep, client: CloudClientDep,
                         user: UiWriter) -> Response:
    form = await request.form()
    number_id = parse_id(form.get("whatsapp_number_id"))
    back = f"/ui/templates?number={number_id}" if number_id is not None else "/ui/templates"
    if number_id is None:
        return redirect(back, request, error="Choose the number whose templates to sync.")
    org_id = user.principal.org_id
    try:
        creds = await number_service.credentials_for(session, box, org_id=org_id, number_id=number_id)
        await session.commit()  # no transaction (on SQLite, no write lock) held while WhatsApp pages through them
        facts = await template_service.fetch_templates(client, creds)
        result = await template_service.store_templates(session, org_id=org_id, number_id=number_id,
                                                        waba_id=creds.waba_id, facts=facts)
    except HeraldError as exc:
        await session.rollback()
        return redirect(back, request, error=f"Sync failed: {exc.message}")
    message = f"Synced {result.synced} templates: {result.usable} usable, {len(result.unusable)} not."
    if result.removed:
        message += f" {len(result.removed)} no longer exist."
    return redirect(back, request, ok=message)


async def _numbers_page(request: Request, session: AsyncSession, user: WebUser, *, errors: dict[str, str] | None = None,
                        values: dict[str, str] | None = None, editing: int | None = None,
                        status_code: int = 422) -> HTMLResponse:
    return render(request, "setup/numbers.html", {
        "numbers": await _numbers(session, user.principal.org_id), "errors": errors or {}, "values": values or {},
        "editing": editing,
    }, user=user, status_code=status_code if errors else 200)


@router.get("/numbers", response_class=HTMLResponse)
async def numbers_page(request: Request, session: SessionDep, user: UiUser, edit: int | None = None) -> HTMLResponse:
    return await _numbers_page(request, session, user, editing=edit)


@router.get("/numbers/{number_id}", response_class=HTMLResponse)
async def number_page(request: Request, number_id: int, session: SessionDep, user: UiUser) -> HTMLResponse:
    """Tier, quality and throughput, the Marketing Messages API settings, and the history of Meta's
    number and account webhooks."""
    return await _number_page(request, session, user, number_id)


async def _number_page(request: Request, session: AsyncSession, user: WebUser, number_id: int, *,
                       errors: dict[str, str] | None = None, values: dict[str, str] | None = None) -> HTMLResponse:
    org = user.principal.org_id
    number = await number_service.get_number(session, org_id=org, number_id=number_id)
    events = await number_events.history(session, org_id=org, number_id=number_id)
    return render(request, "setup/number.html", {"number": number, "events": events, "errors": errors or {},
                                                  "values": values}, user=user, status_code=422 if errors else 200)


# The form's words for ``marketing_messages_activity_sharing``: "" leaves it out of the messages (Meta's default).
_SHARING = {"": None, "on": True, "off": False}


@router.post("/numbers/{number_id}/marketing-messages", response_class=HTMLResponse)
async def save_marketing_messages(request: Request, number_id: int, session: SessionDep, box: SecretBoxDep,
                                  outbound: OutboundDep, settings: SettingsDep, user: UiWriter) -> Response:
    """The number's Marketing Messages API settings (docs/whatsapp.md, "Marketing Messages API")."""
    form = await request.form()
    values = {name: str(form.get(name) or "").strip() for name in
              ("marketing_messages_api", "marketing_messages_ttl_seconds", "marketing_messages_activity_sharing")}
    org_id = user.principal.org_id
    try:
        if values["marketing_messages_activity_sharing"] not in _SHARING:
            raise Invalid("choose default, on or off", field="marketing_messages_activity_sharing")
        changes = WhatsAppNumberUpdate(
            marketing_messages_api=values["marketing_messages_api"] == "on",
            marketing_messages_ttl_seconds=values["marketing_messages_ttl_seconds"] or None,  # type: ignore[arg-type]
            marketing_messages_activity_sharing=_SHARING[values["marketing_messages_activity_sharing"]],
        )
        change = await number_service.plan_update(session, outbound, org_id=org_id, number_id=number_id,
                                                  changes=changes, is_admin=user.principal.is_admin)
        await number_service.apply_update(session, box, change, secret_key=settings.secret_key, org_id=org_id)
    except ValidationError as exc:
        return await _number_page(request, session, user, number_id, errors=_validation_errors(exc), values=values)
    except HeraldError as exc:
        await session.rollback()
        if exc.status_code == 404:
            raise
        return await _number_page(request, session, user, number_id, errors=field_errors(exc), values=values)
    return redirect(f"/ui/numbers/{number_id}", request, ok="Marketing Messages API settings saved.")


@router.post("/numbers", response_class=HTMLResponse)
async def create_number(request: Request, session: SessionDep, box: SecretBoxDep, client: CloudClientDep,
                        outbound: OutboundDep, settings: SettingsDep, user: UiWriter) -> Response:
    values = await _given(request, NUMBER_FIELDS)
    try:
        data = WhatsAppNumberCreate(**values)  # type: ignore[arg-type]
        number_service.check_graph_api_base(outbound, data.graph_api_base)
        await number_service.ensure_phone_number_id_free(session, data.phone_number_id)
        await session.commit()  # no transaction (on SQLite, no write lock) held while WhatsApp answers
        info = await number_service.check_claim(client, number_service.credentials_to_claim(data))
        number = await number_service.add_number(session, box, secret_key=settings.secret_key,
                                                 org_id=user.principal.org_id, data=data, info=info)
    except ValidationError as exc:
        return await _numbers_page(request, session, user, errors=_validation_errors(exc), values=values)
    except HeraldError as exc:
        await session.rollback()
        return await _numbers_page(request, session, user, errors=field_errors(exc), values=values,
                                   status_code=exc.status_code)
    return redirect("/ui/numbers", request, ok=f"Number {number.display_phone_number} added.")


@router.post("/numbers/{number_id}", response_class=HTMLResponse)
async def update_number(request: Request, number_id: int, session: SessionDep, box: SecretBoxDep,
                        client: CloudClientDep, outbound: OutboundDep, settings: SettingsDep,
                        user: UiWriter) -> Response:
    values = await _given(request, NUMBER_FIELDS)
    org_id = user.principal.org_id
    try:
        changes = WhatsAppNumberUpdate(**values)  # type: ignore[arg-type]
        change = await number_service.plan_update(session, outbound, org_id=org_id, number_id=number_id,
                                                  changes=changes, is_admin=user.principal.is_admin)
        info = None
        if change.claim is not None:
            await session.commit()  # no transaction (on SQLite, no write lock) held while WhatsApp answers
            info = await number_service.check_claim(client, change.claim)
        await number_service.apply_update(session, box, change, secret_key=settings.secret_key, org_id=org_id,
                                          info=info)
    except ValidationError as exc:
        return await _numbers_page(request, session, user, errors=_validation_errors(exc), editing=number_id)
    except HeraldError as exc:
        await session.rollback()
        return await _numbers_page(request, session, user, errors=field_errors(exc), editing=number_id,
                                   status_code=exc.status_code)
    return redirect("/ui/numbers", request, ok="Number saved.")


@router.post("/numbers/{number_id}/delete")
async def delete_number(request: Request, number_id: int, session: SessionDep, user: UiWriter) -> Response:
    try:
        await number_service.delete_number(session, org_id=user.principal.org_id, number_id=number_id)
    except HeraldError as exc:
        await session.rollback()
        return redirect("/ui/numbers", request, error=exc.message)
    return redirect("/ui/numbers", request, ok="Number deleted.")


async def _bot_flows_page(request: Request, session: AsyncSession, user: WebUser, *,
                          errors: dict[str, str] | None = None, values: dict[str, str] | None = None,
                          editing: int | None = None) -> HTMLResponse:
    flows, _ = await bot_flow_service.list_bot_flows(session, org_id=user.principal.org_id, cursor=None, limit=500)
    return render(request, "setup/bot_flows.html", {"flows": flows, "errors": errors or {}, "values": values or {},
                                                     "editing": editing}, user=user, status_code=422 if errors else 200)


@router.get("/bot-flows", response_class=HTMLResponse)
async def bot_flows_page(request: Request, session: SessionDep, user: UiUser, edit: int | None = None) -> HTMLResponse:
    return await _bot_flows_page(request, session, user, editing=edit)


async def _save_bot_flow(request: Request, session: AsyncSession, box: Any, outbound: OutboundPolicy, user: WebUser,
                         model: type[BaseModel], bot_flow_id: int | None) -> Response:
    values = await _given(request, BOT_FLOW_FIELDS)
    org = user.principal.org_id
    try:
        data = model(**values)
        if bot_flow_id is None:
            assert isinstance(data, BotFlowCreate)
            await bot_flow_service.create_bot_flow(session, box, outbound, org_id=org, data=data)
        else:
            assert isinstance(data, BotFlowUpdate)
            await bot_flow_service.update_bot_flow(session, box, outbound, org_id=org, bot_flow_id=bot_flow_id,
                                                  changes=data)
    except ValidationError as exc:
        return await _bot_flows_page(request, session, user, errors=_validation_errors(exc), values=values,
                                     editing=bot_flow_id)
    except HeraldError as exc:
        await session.rollback()
        return await _bot_flows_page(request, session, user, errors=field_errors(exc), values=values,
                                     editing=bot_flow_id)
    return redirect("/ui/bot-flows", request, ok="Bot flow saved.")


@router.post("/bot-flows", response_class=HTMLResponse)
async def create_bot_flow(request: Request, session: SessionDep, box: SecretBoxDep, outbound: OutboundDep,
                          user: UiWriter) -> Response:
    return await _save_bot_flow(request, session, box, outbound, user, BotFlowCreate, None)


@router.post("/bot-flows/{bot_flow_id}", response_class=HTMLResponse)
async def update_bot_flow(request: Request, bot_flow_id: int, session: SessionDep, box: SecretBoxDep,
                          outbound: OutboundDep, user: UiWriter) -> Response:
    return await _save_bot_flow(request, session, box, outbound, user, BotFlowUpdate, bot_flow_id)


@router.post("/bot-flows/{bot_flow_id}/delete")
async def delete_bot_flow(request: Request, bot_flow_id: int, session: SessionDep, user: UiWriter) -> Response:
    try:
        await bot_flow_service.delete_bot_flow(session, org_id=user.principal.org_id, bot_flow_id=bot_flow_id)
    except HeraldError as exc:
        await session.rollback()
        return redirect("/ui/bot-flows", request, error=exc.message)
    return redirect("/ui/bot-flows", request, ok="Bot flow deleted.")
