"""Log in, log out, and ``/``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from herald.kit.deps import DatabaseDep, SessionDep, SettingsDep
from herald.kit.errors import TooManyRequests
from herald.web import sessions
from herald.web.deps import UiPoster, client_address, redirect, render
from herald.web.sessions import LOGIN_CSRF_COOKIE, SESSION_COOKIE

router = APIRouter()
HOME = "/ui/campaigns"


def _safe_next(target: str | None) -> str:
    # Only our own pages: never an open redirect to another site.
    if target and target.startswith("/ui/") and not target.startswith("//"):
        return target
    return HOME


def _login_form(request: Request, *, error: str | None, email: str = "", target: str = "",
                secure: bool, status_code: int = 200, headers: dict[str, str] | None = None) -> HTMLResponse:
    token = sessions.new_csrf_token()
    response = render(request, "login.html", {"error": error, "email": email, "next": target, "csrf": token},
                      status_code=status_code)
    response.headers.update(headers or {})
    # Before sign-in there is no session: the form's token is checked against this cookie instead.
    response.set_cookie(LOGIN_CSRF_COOKIE, token, httponly=True, samesite="strict", secure=secure,
                        path="/ui/login")
    return response


@router.get("/", include_in_schema=False)
async def home(request: Request, session: SessionDep) -> Response:
    user = await sessions.signed_in_user(session, token=request.cookies.get(SESSION_COOKIE),
                                         secret_key=request.app.state.settings.secret_key)
    return RedirectResponse(HOME if user else "/ui/login", status_code=303)


@router.get("/ui", include_in_schema=False)
async def ui_root() -> Response:
    return RedirectResponse(HOME, status_code=303)


@router.get("/ui/login", response_class=HTMLResponse)
async def login_page(request: Request, settings: SettingsDep, next: str = "") -> HTMLResponse:
    return _login_form(request, error=None, target=_safe_next(next), secure=settings.secure_cookies)


@router.post("/ui/login", response_class=HTMLResponse)
async def login(
    request: Request,
    database: DatabaseDep,
    settings: SettingsDep,
    email: Annotated[str, Form(max_length=320)] = "",
    password: Annotated[str, Form(max_length=200)] = "",
    csrf_token: Annotated[str, Form(max_length=200)] = "",
    next: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    secure = settings.secure_cookies
    if not sessions.tokens_match(request.cookies.get(LOGIN_CSRF_COOKIE), csrf_token):
        return _login_form(request, error="The login form expired. Please try again.", email=email,
                           target=_safe_next(next), secure=secure, status_code=403)
    try:
        token = await sessions.log_in(database, throttle=request.app.state.login_throttle,
                                      address=client_address(request), email=email, password=password,
                                      secret_key=settings.secret_key)
    except TooManyRequests as exc:
        return _login_form(request, error=exc.message, email=email, target=_safe_next(next), secure=secure,
                           status_code=exc.status_code, headers=exc.headers)
    if token is None:
        return _login_form(request, error=sessions.LOGIN_FAILED, email=email, target=_safe_next(next),
                           secure=secure, status_code=401)
    response = RedirectResponse(_safe_next(next), status_code=303)
    response.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="lax", secure=secure, path="/",
                        max_age=int(sessions.SESSION_LIFETIME.total_seconds()))
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/ui/login")
    return response


@router.post("/ui/logout")
async def logout(request: Request, session: SessionDep, settings: SettingsDep, user: UiPoster) -> Response:
    await sessions.log_out(session, token=request.cookies.get(SESSION_COOKIE, ""), secret_key=settings.secret_key)
    response = redirect("/ui/login", request)
    response.delete_cookie(SESSION_COOKIE, path="/", secure=settings.secure_cookies, httponly=True, samesite="lax")
    return response
