"""What every page needs: the signed-in user, CSRF checks on writes, roles, and rendering."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, unquote

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from herald import __version__
from herald.kit.deps import SessionDep
from herald.kit.errors import HeraldError
from herald.web import filters, wording
from herald.web.sessions import SESSION_COOKIE, WebUser, signed_in_user, tokens_match

HERE = Path(__file__).parent
STATIC_DIR = HERE / "static"
VENDOR_FILES = ("htmx.min.js", "chart.umd.js")
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
FLASH_COOKIE = "herald_flash"

templates = Jinja2Templates(directory=str(HERE / "templates"))
filters.install(templates.env)


class LoginRequired(Exception):
    """No valid session: pages redirect to the login form."""


class PageDenied(Exception):
    """A request the user may not make (bad CSRF token, role): an HTML 403 page, never a stack trace."""

    def __init__(self, message: str, status_code: int = 403) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code


def client_address(request: Request) -> str:
    """The peer's address from the ASGI scope. Behind a reverse proxy it is the client's only when
    uvicorn is told to trust the proxy's X-Forwarded-For (see docs/operations.md); Herald never
    reads that header itself."""
    return request.client.host if request.client else "unknown"


def vendor_missing() -> list[str]:
    return [name for name in VENDOR_FILES if not (STATIC_DIR / "vendor" / name).exists()]


def render(
    request: Request, name: str, context: dict[str, Any] | None = None, *,
    user: WebUser | None = None, status_code: int = 200,
) -> HTMLResponse:
    flash = _read_flash(request)
    values = {"user": user, "version": __version__, "vendor_missing": vendor_missing(), "nav": _nav(request),
              "flash": flash}
    values.update(context or {})
    response = templates.TemplateResponse(request, name, values, status_code=status_code)
    if flash and not request.headers.get("hx-request"):
        response.delete_cookie(FLASH_COOKIE, path="/ui")
    return response


def _read_flash(request: Request) -> dict[str, str] | None:
    raw = request.cookies.get(FLASH_COOKIE)
    if not raw or request.headers.get("hx-request"):
        return None
    kind, _, message = unquote(raw).partition(":")
    return {"kind": "error" if kind == "error" else "ok", "message": message[:500]}


def field_errors(exc: HeraldError) -> dict[str, str]:
    """A domain error as messages per form field (``details`` of ``Invalid``), plus ``""`` for the whole
    form, in the user's words (``wording``)."""
    return wording.user_errors(exc)


def _nav(request: Request) -> str:
    path = request.url.path
    if path.startswith("/ui/campaigns/") and path.endswith("/replies"):
        return "replies"
    for section in ("campaigns", "contacts", "replies", "templates", "numbers", "bot-flows", "settings"):
        if path.startswith(f"/ui/{section}"):
            return section
    return ""


def redirect(url: str, request: Request | None = None, *, ok: str | None = None, error: str | None = None) -> Response:
    """A 303 after a POST; htmx requests get ``HX-Redirect`` so the whole page follows.

    ``ok``/``error``: a one-time message the next page shows (a short-lived cookie).
    """
    response: Response
    if request is not None and request.headers.get("hx-request"):
        response = Response(status_code=204, headers={"HX-Redirect": url})
    else:
        response = RedirectResponse(url, status_code=303)
    if ok or error:
        value = quote(("error:" + error) if error else ("ok:" + (ok or "")), safe="")
        response.set_cookie(FLASH_COOKIE, value[:1500], max_age=60, httponly=True, samesite="lax", path="/ui")
    return response


def login_redirect(request: Request) -> Response:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return redirect(f"/ui/login?next={quote(target, safe='')}", request)


def denied_page(request: Request, exc: PageDenied) -> HTMLResponse:
    title = {404: "Not found", 409: "Not possible now", 422: "Not possible", 503: "Temporarily unavailable"}.get(
        exc.status_code, "Not allowed")
    return render(request, "error.html", {"message": exc.message, "title": title}, status_code=exc.status_code)


async def current_user(request: Request, session: SessionDep) -> WebUser:
    user = await signed_in_user(session, token=request.cookies.get(SESSION_COOKIE),
                                secret_key=request.app.state.settings.secret_key)
    if user is None:
        raise LoginRequired()
    return user


async def _csrf_checked(request: Request, user: Annotated[WebUser, Depends(current_user)]) -> WebUser:
    given = request.headers.get(CSRF_HEADER)
    if given is None:
        if _is_multipart(request):
            # An upload's token comes in the header (app.js sends it), so that the file is neither
            # read nor spooled to disk before the token is checked.
            raise PageDenied("Uploads need the page's script: reload the page and try again.")
        form = await request.form()
        field = form.get(CSRF_FIELD)
        given = field if isinstance(field, str) else None
    if not tokens_match(user.csrf_token, given):
        raise PageDenied("This form has expired or did not come from Herald. Reload the page and try again.")
    return user


def _is_multipart(request: Request) -> bool:
    return request.headers.get("content-type", "").lower().startswith("multipart/")


async def _writer(user: Annotated[WebUser, Depends(_csrf_checked)]) -> WebUser:
    if not user.can_write:
        raise PageDenied("Your role (viewer) may look at everything but not change anything.")
    return user


async def _admin(user: Annotated[WebUser, Depends(_csrf_checked)]) -> WebUser:
    if not user.is_admin:
        raise PageDenied("Only an admin may do this.")
    return user


UiUser = Annotated[WebUser, Depends(current_user)]
# A POST that changes nothing (previews) still carries the token: every form does.
UiPoster = Annotated[WebUser, Depends(_csrf_checked)]
UiWriter = Annotated[WebUser, Depends(_writer)]
UiAdmin = Annotated[WebUser, Depends(_admin)]
