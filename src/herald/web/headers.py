"""Security headers on every response: a Content-Security-Policy without inline script, and the rest.

The UI's pages load their scripts and styles from ``/ui/static`` only: no inline ``<script>``, no
``on…=`` attributes, no ``style=`` attributes (htmx's own indicator ``<style>`` is turned off by the
``htmx-config`` meta tag of ``templates/base.html``). So even a value that escaped its escaping could
not run. FastAPI's API explorers (``/docs``, ``/redoc``) are pages FastAPI generates with an inline
script and assets from a CDN: they get a policy of their own, as narrow as they allow.

A pure ASGI middleware: it adds the headers to the ``http.response.start`` message, never reads or
buffers a body (SSE streams and CSV downloads pass through untouched). A header a route set itself
is kept.
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CONTENT_SECURITY_POLICY = "; ".join((
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "connect-src 'self'",
    "frame-ancestors 'none'",
    "base-uri 'self'",
    "form-action 'self'",
    "object-src 'none'",
))

# Swagger UI and ReDoc as FastAPI serves them: an inline script (Swagger's set-up), the bundles and
# stylesheets from jsDelivr, ReDoc's fonts from Google Fonts, the favicon from FastAPI's site,
# ReDoc's workers from blob: URLs. These pages show no stored data and take no input.
DOCS_CONTENT_SECURITY_POLICY = "; ".join((
    "default-src 'none'",
    "script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net",
    "style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net https://fonts.googleapis.com",
    "font-src https://fonts.gstatic.com",
    "img-src 'self' data: https://fastapi.tiangolo.com https://cdn.redoc.ly https://cdn.jsdelivr.net",
    "connect-src 'self'",
    "worker-src blob:",
    "frame-ancestors 'none'",
    "base-uri 'self'",
    "form-action 'self'",
    "object-src 'none'",
))
DOCS_PATHS = frozenset({"/docs", "/docs/oauth2-redirect", "/redoc"})

COMMON_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}


def headers_for(path: str) -> dict[str, str]:
    """The security headers of a response to ``path``."""
    policy = DOCS_CONTENT_SECURITY_POLICY if path in DOCS_PATHS else CONTENT_SECURITY_POLICY
    return {"Content-Security-Policy": policy, **COMMON_HEADERS}


class SecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        wanted = headers_for(scope["path"])

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in wanted.items():
                    if name not in headers:
                        headers[name] = value
            await send(message)

        await self.app(scope, receive, send_with_headers)
