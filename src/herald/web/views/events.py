"""Settings → Event endpoints (admins): list, add, edit, delete, send a test event, and each
endpoint's delivery log. Secrets are write-only, as on the API."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from herald.events import service
from herald.events.schemas import DeliveryStatus, EventDeliveryOut, EventEndpointCreate, EventEndpointUpdate
from herald.events.types import ALL_TYPES
from herald.kit.crypto import SecretBox
from herald.kit.deps import OutboundDep, SecretBoxDep, SessionDep
from herald.kit.errors import HeraldError
from herald.kit.outbound import OutboundPolicy
from herald.kit.pagination import Page
from herald.web.deps import PageDenied, UiAdmin, UiUser, WebUser, field_errors, redirect, render

router = APIRouter(prefix="/ui/settings/event-endpoints")
PAGE = "/ui/settings/event-endpoints"
LOG_SIZE = 200


async def _page(request: Request, session: AsyncSession, user: WebUser, *, errors: dict[str, str] | None = None,
                values: dict[str, Any] | None = None, editing: int | None = None) -> HTMLResponse:
    endpoints, _ = await service.list_endpoints(session, org_id=user.principal.org_id, cursor=None, limit=500)
    return render(request, "settings/event_endpoints.html", {
        "endpoints": endpoints, "types": ALL_TYPES, "errors": errors or {}, "values": values or {}, "editing": editing,
    }, user=user, status_code=422 if errors else 200)


def _admin_only(user: WebUser) -> WebUser:
    """The pages' GETs (the POSTs go through ``UiAdmin``, which checks the form's token too)."""
    if not user.is_admin:
        raise PageDenied("Only an admin may see or change event endpoints.")
    return user


@router.get("", response_class=HTMLResponse)
async def endpoints_page(request: Request, session: SessionDep, user: UiUser, edit: int | None = None) -> HTMLResponse:
    return await _page(request, session, _admin_only(user), editing=edit)


async def _form(request: Request) -> dict[str, Any]:
    """Fields typed in; a blank secret is left out (it keeps the stored one, unless the URL changes)."""
    form = await request.form()
    values: dict[str, Any] = {f: str(form.get(f) or "").strip() for f in ("url", "secret", "description")}
    if not values["secret"]:
        del values["secret"]
    values["event_types"] = [str(t) for t in form.getlist("event_types")]
    return values


def _errors(exc: ValidationError) -> dict[str, str]:
    errors = {"": "Some fields need attention."}
    for error in exc.errors():
        errors.setdefault(".".join(str(p) for p in error["loc"][:1]), error["msg"].removeprefix("Value error, "))
    return errors


async def _save(request: Request, session: AsyncSession, box: SecretBox, outbound: OutboundPolicy, user: WebUser,
                model: type[BaseModel], endpoint_id: int | None) -> Response:
    values = await _form(request)
    org = user.principal.org_id
    try:
        data = model(**values)
        if isinstance(data, EventEndpointCreate):
            await service.create_endpoint(session, box, outbound, org_id=org, data=data)
        else:
            assert isinstance(data, EventEndpointUpdate) and endpoint_id is not None
            await service.update_endpoint(session, box, outbound, org_id=org, endpoint_id=endpoint_id, changes=data)
    except ValidationError as exc:
        return await _page(request, session, user, errors=_errors(exc), values=values, editing=endpoint_id)
    except HeraldError as exc:
        await session.rollback()
        return await _page(request, session, user, errors=field_errors(exc), values=values, editing=endpoint_id)
    return redirect(PAGE, request, ok="Event endpoint saved.")


@router.post("", response_class=HTMLResponse)
async def create_endpoint(request: Request, session: SessionDep, box: SecretBoxDep, outbound: OutboundDep,
                          user: UiAdmin) -> Response:
    return await _save(request, session, box, outbound, user, EventEndpointCreate, None)


@router.post("/{endpoint_id}", response_class=HTMLResponse)
async def update_endpoint(request: Request, endpoint_id: int, session: SessionDep, box: SecretBoxDep,
                          outbound: OutboundDep, user: UiAdmin) -> Response:
    return await _save(request, session, box, outbound, user, EventEndpointUpdate, endpoint_id)


@router.post("/{endpoint_id}/delete")
async def delete_endpoint(request: Request, endpoint_id: int, session: SessionDep, user: UiAdmin) -> Response:
    try:
        await service.delete_endpoint(session, org_id=user.principal.org_id, endpoint_id=endpoint_id)
    except HeraldError as exc:
        await session.rollback()
        return redirect(PAGE, request, error=exc.message)
    return redirect(PAGE, request, ok="Event endpoint deleted.")


@router.post("/{endpoint_id}/test")
async def send_test_event(request: Request, endpoint_id: int, session: SessionDep, user: UiAdmin) -> Response:
    try:
        await service.send_test_event(session, org_id=user.principal.org_id, endpoint_id=endpoint_id)
    except HeraldError as exc:
        await session.rollback()
        return redirect(PAGE, request, error=exc.message)
    return redirect(f"{PAGE}/{endpoint_id}/deliveries", request,
                    ok="Test event queued: it is sent within a second; its delivery shows below.")


@router.get("/{endpoint_id}/deliveries", response_class=HTMLResponse)
async def deliveries_page(request: Request, endpoint_id: int, session: SessionDep, user: UiUser,
                          status: DeliveryStatus | None = None, event_id: str = "") -> HTMLResponse:
    """One row per batch of events; ``event_id`` finds the batch of an event a receiver logged."""
    org = _admin_only(user).principal.org_id
    endpoint = await service.get_endpoint(session, org_id=org, endpoint_id=endpoint_id)
    errors: dict[str, str] = {}
    try:
        page = await service.list_deliveries(session, org_id=org, endpoint_id=endpoint_id, status=status,
                                             limit=LOG_SIZE, cursor=None, event_id=event_id)
    except HeraldError as exc:
        errors = field_errors(exc)
        page = Page[EventDeliveryOut](items=[], next_cursor=None)
    return render(request, "settings/event_deliveries.html", {
        "endpoint": endpoint, "deliveries": page.items, "status": status.value if status else "",
        "event_id": event_id.strip(), "errors": errors, "statuses": [s.value for s in DeliveryStatus],
        "more": page.next_cursor is not None, "log_size": LOG_SIZE,
    }, user=user, status_code=422 if errors else 200)
