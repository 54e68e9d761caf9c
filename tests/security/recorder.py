"""A host an attacker would choose: a tiny HTTP server on loopback that records what reaches it.

By default it answers like the Graph API would for any phone number and token (number info, an
empty template list, a media id), so that Herald goes ahead and sends whatever it would send.
`answer` replaces every answer (say an HTML 404 page, or a 500 carrying a secret body).
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from aiohttp import web


@dataclass
class Recorder:
    port: int = 0
    requests: list[tuple[str, str, str]] = field(default_factory=list)  # method, path, Authorization
    answer: Callable[[web.Request], web.Response] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def authorizations(self) -> list[str]:
        return [auth for _, _, auth in self.requests if auth]

    async def _handle(self, request: web.Request) -> web.Response:
        await request.read()
        self.requests.append((request.method, request.path, request.headers.get("Authorization", "")))
        if self.answer is not None:
            return self.answer(request)
        parts = [p for p in request.path.split("/") if p]
        if request.method == "POST" and parts[-1:] == ["media"]:
            return web.json_response({"id": "media-1"})
        if request.method == "POST" and parts[-1:] == ["messages"]:
            return web.json_response({"messages": [{"id": "wamid.1"}], "contacts": [{"wa_id": "1"}]})
        if parts[-1:] == ["message_templates"]:
            return web.json_response({"data": []})
        return web.json_response({"id": parts[-1] if parts else "", "display_phone_number": "+1 555 000 0009",
                                  "quality_rating": "GREEN", "throughput": {"level": "STANDARD"}})


@asynccontextmanager
async def recording_server(answer: Callable[[web.Request], web.Response] | None = None) -> AsyncIterator[Recorder]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    recorder = Recorder(port=port, answer=answer)
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", recorder._handle)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield recorder
    finally:
        await runner.cleanup()


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
