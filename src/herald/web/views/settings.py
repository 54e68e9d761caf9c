"""Settings: API keys (shown once), users, the opt-out keywords and the frequency cap, which admins
manage (other roles see why they cannot, the keywords and the cap), and changing one's own password,
which everyone may."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from herald.auth import repository, service, user_access
from herald.auth.principal import Role
from herald.campaigns import frequency_cap
from herald.kit.deps import SessionDep, SettingsDep
from herald.kit.errors import HeraldError, Invalid
from herald.replies import keywords
from herald.web.deps import UiAdmin, UiPoster, UiUser, WebUser, client_address, field_errors, redirect, render

router = APIRouter(prefix="/ui/settings")


async def _page(request: Request, session: AsyncSession, user: WebUser, *, new_key: str | None = None,
                errors: dict[str, str] | None = None, status_code: int = 200,
                cap_typed: dict[str, str] | None = None) -> HTMLResponse:
    org = user.principal.org_id
    cap = await frequency_cap.cap_of(session, org_id=org)
    stored = {"messages": str(cap.messages) if cap else "", "days": str(cap.days) if cap else ""}
    context: dict[str, Any] = {"roles": [r.value for r in Role], "new_key": new_key, "errors": errors or {},
               "keys": [], "users": [], "keywords": await keywords.keywords_of(session, org_id=org),
               "cap": cap, "cap_form": cap_typed or stored}
    if user.is_admin:
        context["keys"] = await repository.list_api_keys(session, org_id=org)
        context["users"] = await repository.list_users(session, org_id=org)
    return render(request, "settings.html", context, user=user, status_code=status_code)


async def _refused(request: Request, session: AsyncSession, user: WebUser, exc: HeraldError,
                   cap_typed: dict[str, str] | None = None) -> HTMLResponse:
    await session.rollback()
    response = await _page(request, session, user, errors=field_errors(exc), status_code=exc.status_code,
                           cap_typed=cap_typed)
    response.headers.update(exc.headers or {})
    return response


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
        return await _refused(request, session, user, exc)
    return redirect("/ui/settings", request, ok=f"User {email.strip().lower()} added.")


async def _change_user(request: Request, session: AsyncSession, user: WebUser, change: Awaitable[object], *,
                       user_id: int, ok: str, ends_own_session: bool = False) -> Response:
    try:
        await change
    except HeraldError as exc:
        return await _refused(request, session, user, exc)
    if ends_own_session and user_id == user.user_id:
        return redirect("/ui/login", request)
    return redirect("/ui/settings", request, ok=ok)


@router.post("/users/{user_id}/role", response_class=HTMLResponse)
async def change_role(request: Request, user_id: int, session: SessionDep, user: UiAdmin,
                      role: Annotated[Role, Form()]) -> Response:
    change = user_access.update_user(session, org_id=user.principal.org_id, user_id=user_id, role=role)
    return await _change_user(request, session, user, change, user_id=user_id, ok=f"Role changed to {role.value}.")


@router.post("/users/{user_id}/deactivate", response_class=HTMLResponse)
async def deactivate_user(request: Request, user_id: int, session: SessionDep, user: UiAdmin) -> Response:
    change = user_access.update_user(session, org_id=user.principal.org_id, user_id=user_id, active=False)
    return await _change_user(request, session, user, change, user_id=user_id, ends_own_session=True,
                              ok="User deactivated: signed out everywhere, and cannot sign in.")


@router.post("/users/{user_id}/reactivate", response_class=HTMLResponse)
async def reactivate_user(request: Request, user_id: int, session: SessionDep, user: UiAdmin) -> Response:
    change = user_access.update_user(session, org_id=user.principal.org_id, user_id=user_id, active=True)
    return await _change_user(request, session, user, change, user_id=user_id, ok="User may sign in again.")


@router.post("/users/{user_id}/delete", response_class=HTMLResponse)
async def delete_user(request: Request, user_id: int, session: SessionDep, user: UiAdmin) -> Response:
    change = user_access.delete_user(session, org_id=user.principal.org_id, user_id=user_id)
    return await _change_user(request, session, user, change, user_id=user_id, ends_own_session=True,
                              ok="User deleted.")


def _words(text: str) -> list[str]:
    return [w.strip() for w in text.split(",") if w.strip()]


@router.post("/keywords", response_class=HTMLResponse)
async def save_keywords(
    request: Request, session: SessionDep, user: UiAdmin,
    opt_out_keywords: Annotated[str, Form(max_length=4000)] = "",
    opt_in_keywords: Annotated[str, Form(max_length=4000)] = "",
) -> Response:
    try:
        await keywords.save(session, org_id=user.principal.org_id, opt_out=_words(opt_out_keywords),
                            opt_in=_words(opt_in_keywords))
    except HeraldError as exc:
        return await _refused(request, session, user, exc)
    return redirect("/ui/settings", request, ok="Keywords saved.")


def _whole_number(text: str, *, field: str) -> int | None:
    text = text.strip()
    if not text:
        return None
    if not text.isdigit():
        raise Invalid("enter a whole number", field=field)
    return int(text)


@router.post("/frequency-cap", response_class=HTMLResponse)
async def save_frequency_cap(
    request: Request, session: SessionDep, user: UiAdmin,
    frequency_cap_messages: Annotated[str, Form(max_length=20)] = "",
    frequency_cap_days: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    """Both empty: no cap."""
    try:
        cap = await frequency_cap.save(
            session, org_id=user.principal.org_id,
            messages=_whole_number(frequency_cap_messages, field="frequency_cap_messages"),
            days=_whole_number(frequency_cap_days, field="frequency_cap_days"),
        )
    except HeraldError as exc:
        typed = {"messages": frequency_cap_messages, "days": frequency_cap_days}
        return await _refused(request, session, user, exc, cap_typed=typed)
    ok = f"Frequency cap saved: at most {cap.messages} in {cap.days} days." if cap else "Frequency cap removed."
    return redirect("/ui/settings", request, ok=ok)


@router.post("/password", response_class=HTMLResponse)
async def change_password(
    request: Request, session: SessionDep, user: UiPoster,
    current_password: Annotated[str, Form(max_length=200)] = "",
    new_password: Annotated[str, Form(max_length=200)] = "",
    new_password_again: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    """Anyone's own password, checked against the current one (throttled like sign-in); the other
    sessions of this user end, this one stays."""
    try:
        user_access.check_new_password(new_password, field="new_password")
        if new_password != new_password_again:
            raise Invalid("the two new passwords differ", field="new_password_again")
        throttle = request.app.state.login_throttle
        with throttle.attempt(address=client_address(request), account=user.email) as attempt:
            if not await user_access.password_matches(session, user_id=user.user_id, password=current_password):
                attempt.failed()
                raise Invalid("the current password is wrong", field="current_password")
            attempt.succeeded()
        await user_access.change_own_password(session, user_id=user.user_id, new_password=new_password,
                                              keep_session=user.session_id)
    except HeraldError as exc:
        return await _refused(request, session, user, exc)
    return redirect("/ui/settings", request, ok="Password changed. Your other sessions are signed out.")
