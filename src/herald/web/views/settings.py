"""Settings: API keys (shown once) and users. Admins manage both; other roles see why they cannot."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from herald.auth import repository, service
from herald.auth.principal import Role
from herald.kit.deps import SessionDep, SettingsDep
from herald.kit.errors import HeraldError
from herald.web.deps import UiAdmin, UiUser, WebUser, field_errors, redirect, render

router = APIRouter(prefix="/ui/settings")


async def _page(request: Request, session: AsyncSession, user: WebUser, *, new_key: str | None = None,
                errors: dict[str, str] | None = None, status_code: int = 200) -> HTMLResponse:
    org = user.principal.org_id
    context: dict[str, Any] = {"roles": [r.value for r in Role], "new_key": new_key, "errors": errors or {},
               "keys": [], "users": []}
    if user.is_admin:
        context["keys"] = await repository.list_api_keys(session, org_id=org)
        context["users"] = await repository.list_users(session, org_id=org)
    return render(request, "settings.html", context, user=user, status_code=status_code)


@router.get("", response_class=HTMLResponse)
async def settings_page(request: Request, session: SessionDep, user: UiUser) -> HTMLResponse:
    return await _page(request, session, user)


@router.post("/api-keys", response_class=HTMLResponse)
async def create_api_key(
    request: Request, session: SessionDep, settings: SettingsDep, user: UiAdmin,
    name: Annotated[str, Form(max_length=200)] = "", role: Annotated[Role, Form()] = Role.editor,
) -> HTMLResponse:
    _, key = await service.create_api_key(session, org_id=user.principal.org_id, role=role, name=name,
                                          secret_key=settings.secret_key)
    # Rendered, not redirected: the key is shown this once and never stored in clear.
    return await _page(request, session, user, new_key=key)


@router.post("/api-keys/{api_key_id}/revoke")
async def revoke_api_key(request: Request, api_key_id: int, session: SessionDep, user: UiAdmin) -> Response:
    await service.revoke_api_key(session, org_id=user.principal.org_id, api_key_id=api_key_id)
    return redirect("/ui/settings", request, ok="API key revoked.")


@router.post("/users", response_class=HTMLResponse)
async def create_user(
    request: Request, session: SessionDep, user: UiAdmin,
    email: Annotated[str, Form(max_length=320)] = "", password: Annotated[str, Form(max_length=200)] = "",
    role: Annotated[Role, Form()] = Role.editor,
) -> Response:
    try:
        await service.create_user(session, org_id=user.principal.org_id, email=email, password=password, role=role)
    except HeraldError as exc:
        await session.rollback()
        return await _page(request, session, user, errors=field_errors(exc), status_code=422)
    return redirect("/ui/settings", request, ok=f"User {email.strip().lower()} added.")
