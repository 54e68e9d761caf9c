"""Request bodies bounded while they stream in: a byte limit per route, refused with 413 before more
than the limit has been read.

A pure ASGI middleware, outside routing and FastAPI's body parsing (which reads a JSON or form body
whole before any dependency, authentication included, has run):

- a ``Content-Length`` over the route's limit is answered at once: the application is not called
  and no byte of the body is read;
- a body without one (chunked) is counted as the server hands it over, and cut off as soon as the
  count passes the limit: the application's read fails, and whatever the application then answers
  is replaced by the 413.

The 413 carries ``Connection: close``, and so does any answer sent before the body was read to its
end (a 401 to an upload, say): the server then closes the connection instead of reading the rest
of the body to reach the next request.

Starlette's own ``RequestBodyLimitMiddleware`` (and FastAPI's ``max_body_size``) was not used: it
answers a plain-text 413 rather than the API's error shape, keeps the connection open, and fixes
each route's limit when the route is declared, whereas the upload limit is a setting of each
application (``HERALD_MAX_UPLOAD_BYTES``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import orjson
from starlette.routing import compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

KB = 1024
MB = 1024 * KB
# Room for a multipart envelope (boundary lines, part headers, small fields) around an uploaded file.
MULTIPART_OVERHEAD_BYTES = 64 * KB

Limit = int | Callable[[], int]


@dataclass(frozen=True)
class BodyRoute:
    """Bodies of ``method path`` (a route path, ``{name}`` parameters allowed) are limited to ``limit``
    bytes: a number, or a function read at each request (a limit that comes from the settings)."""

    method: str
    path: str
    limit: Limit
    pattern: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "pattern", compile_path(self.path)[0])

    def limit_bytes(self) -> int:
        return self.limit() if callable(self.limit) else self.limit


class BodyTooLarge(Exception):
    """Raised to the application by ``receive`` once the body passed its route's limit."""


def too_large_body(limit: int) -> bytes:
    shown = f"{limit / MB:.4g} MiB" if limit >= MB else f"{limit} bytes"
    return orjson.dumps({"error": {
        "code": "body_too_large",
        "message": f"the request body is larger than the {shown} this route accepts",
        "details": {"limit_bytes": limit},
    }})


async def send_too_large(send: Send, limit: int) -> None:
    body = too_large_body(limit)
    await send({
        "type": "http.response.start",
        "status": 413,
        "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
        ],
    })
    await send({"type": "http.response.body", "body": body, "more_body": False})


def _declared_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def _has_body(scope: Scope) -> bool:
    declared = _declared_length(scope)
    if declared is not None:
        return declared > 0
    return any(name == b"transfer-encoding" for name, _ in scope["headers"])


class BodyLimit:
    """The middleware: ``routes`` name the routes whose limit differs from ``default``."""

    def __init__(self, app: ASGIApp, *, default: Limit, routes: Sequence[BodyRoute] = ()) -> None:
        self.app = app
        self.default = BodyRoute("*", "/", default)
        self.routes = tuple(routes)

    def route_for(self, method: str, path: str) -> BodyRoute:
        for route in self.routes:
            if route.method == method and route.pattern.match(path):
                return route
        return self.default

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.route_for(scope["method"], scope["path"]).limit_bytes()
        declared = _declared_length(scope)
        if declared is not None and declared > limit:
            await send_too_large(send, limit)
            return
        await _LimitedRequest(self.app, limit, unread=_has_body(scope))(scope, receive, send)


class _LimitedRequest:
    """One request's count of body bytes, and who answers it."""

    def __init__(self, app: ASGIApp, limit: int, *, unread: bool) -> None:
        self.app = app
        self.limit = limit
        self.received = 0
        self.unread = unread  # body bytes may still be on their way
        self.tripped = False  # the limit was passed
        self.started = False  # a response has begun
        self.replaced = False  # ...and it is our 413, not the application's answer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def limited_receive() -> Message:
            if self.tripped:
                raise BodyTooLarge()
            message = await receive()
            if message["type"] == "http.request":
                self.received += len(message.get("body", b""))
                if not message.get("more_body", False):
                    self.unread = False
                if self.received > self.limit:
                    self.tripped = True
                    raise BodyTooLarge()
            return message

        async def guarded_send(message: Message) -> None:
            if self.replaced:
                return
            if message["type"] == "http.response.start":
                self.started = True
                if self.tripped:  # the application answers its failed read (a 400, a 500): ours goes instead
                    self.replaced = True
                    await send_too_large(send, self.limit)
                    return
                headers = list(message.get("headers", []))
                if self.unread and not any(name.lower() == b"connection" for name, _ in headers):
                    message = {**message, "headers": [*headers, (b"connection", b"close")]}
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except BodyTooLarge:
            if self.replaced:
                return
            if self.started:
                raise  # the application had begun its answer before the limit was passed: cut it off
            self.started = self.replaced = True
            await send_too_large(send, self.limit)
