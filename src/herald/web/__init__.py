"""The web UI: server-rendered pages under ``/ui`` on the same services as the API."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles

from herald.kit.errors import HeraldError
from herald.web.deps import STATIC_DIR, LoginRequired, PageDenied, denied_page, login_redirect
from herald.web.login_throttle import LoginThrottle
from herald.web.views import router


def install_web(app: FastAPI) -> None:
    """Mount the pages and their static files, and turn sign-in and permission failures into pages."""
    app.state.login_throttle = LoginThrottle()  # failed sign-ins, counted in this process's memory
    app.include_router(router)
    app.mount("/ui/static", StaticFiles(directory=STATIC_DIR), name="ui-static")

    async def to_login(request: Request, _: Exception) -> Response:
        return login_redirect(request)

    async def to_denied(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, PageDenied)
        return denied_page(request, exc)

    async def domain_error(request: Request, exc: Exception) -> Response:
        """A domain error a page did not handle itself (say, a campaign of another org): an HTML page
        under ``/ui``, the API's JSON body (as ``app.install_error_handlers`` renders it) everywhere else."""
        assert isinstance(exc, HeraldError)
        if request.url.path.startswith("/ui/"):
            return denied_page(request, PageDenied(exc.message, status_code=exc.status_code))
        return JSONResponse(exc.body(), status_code=exc.status_code, headers=exc.headers)

    app.add_exception_handler(LoginRequired, to_login)
    app.add_exception_handler(PageDenied, to_denied)
    app.add_exception_handler(HeraldError, domain_error)
