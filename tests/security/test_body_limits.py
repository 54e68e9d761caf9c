"""Request bodies are bounded before they are read (issue 17, item 4).

Every body is counted as it streams in and refused with 413 past its route's limit (JSON API and UI
forms 1 MiB, Meta's webhooks 8 MiB, uploads their documented maxima), and an upload is parsed only
once its caller is authenticated (and, in the UI, its CSRF token checked).

Two kinds of client: httpx's ASGI transport pulls a streamed request body only as the application
reads it, so counting what it pulled shows how much the application read; a real uvicorn server
on a loopback port, fed through a raw socket, shows that the answer arrives (and the connection
closes) while the client is still sending.
"""

from __future__ import annotations

import select
import socket
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx
import pytest

from herald.auth.principal import Role
from herald.config import Settings
from herald.kit.db import Database
from herald.simulator import SimulatorServer
from herald.webhooks.ingest import MAX_BODY_BYTES as WEBHOOK_LIMIT
from tests.conftest import OrgHandle
from tests.live import live_server
from tests.numbers.helpers import register_number, sim  # noqa: F401  (fixture)
from tests.web.conftest import Browser, browser  # noqa: F401  (fixture)
from tests.web.helpers import page_csrf
from tests.webhooks.helpers import event_count

MIB = 1024 * 1024
HUGE = 300 * MIB
BOUNDARY = "herald-body-limit"
CONTACTS = "/api/v1/contacts"
IMPORT = "/api/v1/contacts/import"
WEBHOOK = "/webhooks/whatsapp"
JSON = {"content-type": "application/json"}
MULTIPART = {"content-type": f"multipart/form-data; boundary={BOUNDARY}"}


def multipart_head(filename: str, mime: str) -> bytes:
    return (f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
            f"Content-Type: {mime}\r\n\r\n").encode()


class StreamedBody:
    """``size`` bytes made on demand (``head`` first), counting how many the server pulled."""

    def __init__(self, size: int, head: bytes = b"") -> None:
        self.size = size
        self.head = head
        self.sent = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for piece in self.pieces():
            yield piece

    def pieces(self) -> Iterator[bytes]:
        block = b"x" * (64 * 1024)
        if self.head:
            self.sent += len(self.head)
            yield self.head
        while self.sent < self.size:
            piece = block[: self.size - self.sent]
            self.sent += len(piece)
            yield piece


def error_of(response: httpx.Response) -> dict[str, object]:
    error: dict[str, object] = response.json()["error"]
    return error


async def contact_count(client: httpx.AsyncClient, org: OrgHandle) -> int:
    return len((await client.get(CONTACTS, headers=org.auth)).json()["items"])


class TestLimitPerRoute:
    async def test_a_json_body_over_1_mib_is_413_with_the_limit_named(
        self, client: httpx.AsyncClient, org: OrgHandle
    ) -> None:
        body = b'{"phone": "+14155550100", "name": "' + b"x" * (2 * MIB) + b'"}'
        response = await client.post(CONTACTS, content=body, headers={**org.auth, **JSON})
        assert response.status_code == 413
        assert error_of(response)["code"] == "body_too_large"
        assert error_of(response)["details"] == {"limit_bytes": MIB}
        assert "1 MiB" in str(error_of(response)["message"])
        assert await contact_count(client, org) == 0

    async def test_a_json_body_under_1_mib_is_not_refused_for_its_size(
        self, client: httpx.AsyncClient, org: OrgHandle
    ) -> None:
        tags = [f"tag-{i:06d}" for i in range(40_000)]  # ~600 KB of JSON
        response = await client.post(CONTACTS, json={"phone": "+14155550100", "tags": tags}, headers=org.auth)
        assert response.status_code != 413

    async def test_an_unauthenticated_declared_300_mb_json_post_is_refused_unread(
        self, client: httpx.AsyncClient
    ) -> None:
        body = StreamedBody(HUGE)
        response = await client.post(CONTACTS, content=body, headers={**JSON, "content-length": str(HUGE)})
        assert response.status_code == 413
        assert error_of(response)["code"] == "body_too_large"
        assert body.sent < MIB

    async def test_an_unauthenticated_chunked_300_mb_json_post_is_cut_off_near_1_mib(
        self, client: httpx.AsyncClient
    ) -> None:
        body = StreamedBody(HUGE)
        response = await client.post(CONTACTS, content=body, headers=JSON)  # no content-length: chunked
        assert response.status_code == 413
        assert error_of(response)["details"] == {"limit_bytes": MIB}
        assert body.sent < 2 * MIB

    async def test_a_chunked_webhook_post_is_cut_off_near_8_mib_and_stores_nothing(
        self, client: httpx.AsyncClient, database: Database
    ) -> None:
        body = StreamedBody(HUGE, head=b'{"entry": [], "pad": "')
        response = await client.post(WEBHOOK, content=body, headers={**JSON, "x-hub-signature-256": "sha256=00"})
        assert response.status_code == 413
        assert error_of(response)["details"] == {"limit_bytes": WEBHOOK_LIMIT}
        assert body.sent < WEBHOOK_LIMIT + MIB
        assert await event_count(database) == 0

    async def test_a_ui_form_post_over_1_mib_is_413(self, client: httpx.AsyncClient) -> None:
        response = await client.post("/ui/login", data={"email": "a@b.test", "password": "x" * (2 * MIB)})
        assert response.status_code == 413
        assert error_of(response)["details"] == {"limit_bytes": MIB}

    @pytest.mark.slow
    async def test_a_csv_import_may_be_larger_than_1_mib(
        self, client: httpx.AsyncClient, org: OrgHandle
    ) -> None:
        rows = b"".join(b"+14152%06d,Name %d\n" % (i, i) for i in range(100_000))  # ~2.6 MB
        assert len(rows) > 2 * MIB
        response = await client.post(IMPORT, files={"file": ("c.csv", b"phone,name\n" + rows, "text/csv")},
                                     headers=org.auth)
        assert response.status_code == 200, response.text
        assert response.json()["imported"] == 100_000

    async def test_a_media_upload_may_be_larger_than_1_mib_and_a_declared_300_mb_one_is_refused_unread(
        self, client: httpx.AsyncClient, org: OrgHandle, sim: SimulatorServer  # noqa: F811
    ) -> None:
        number = await register_number(client, org, sim.base_url)
        path = f"/api/v1/whatsapp-numbers/{number['id']}/media"
        png = b"\x89PNG\r\n\x1a\n" + b"\x00" * (3 * MIB)
        uploaded = await client.post(path, files={"file": ("big.png", png, "image/png")}, headers=org.auth)
        assert uploaded.status_code == 201, uploaded.text
        assert uploaded.json()["size"] == len(png)
        body = StreamedBody(HUGE, head=multipart_head("huge.pdf", "application/pdf"))
        refused = await client.post(path, content=body, headers={**org.auth, **MULTIPART,
                                                                 "content-length": str(HUGE)})
        assert refused.status_code == 413
        assert error_of(refused)["code"] == "body_too_large"
        assert body.sent < MIB


class TestUploadsAuthenticateBeforeReading:
    async def test_an_unauthenticated_media_upload_is_401_unread(
        self, client: httpx.AsyncClient, org: OrgHandle, sim: SimulatorServer  # noqa: F811
    ) -> None:
        number = await register_number(client, org, sim.base_url)
        body = StreamedBody(HUGE, head=multipart_head("a.pdf", "application/pdf"))
        response = await client.post(f"/api/v1/whatsapp-numbers/{number['id']}/media", content=body,
                                     headers=MULTIPART)
        assert response.status_code == 401
        assert body.sent < MIB

    async def test_a_viewers_media_upload_is_403_unread(
        self, client: httpx.AsyncClient, org: OrgHandle, sim: SimulatorServer  # noqa: F811
    ) -> None:
        number = await register_number(client, org, sim.base_url)
        body = StreamedBody(50 * MIB, head=multipart_head("a.pdf", "application/pdf"))
        response = await client.post(f"/api/v1/whatsapp-numbers/{number['id']}/media", content=body,
                                     headers={**org.headers(Role.viewer), **MULTIPART})
        assert response.status_code == 403
        assert body.sent < MIB

    async def test_an_unauthenticated_csv_import_is_401_unread(self, client: httpx.AsyncClient) -> None:
        body = StreamedBody(HUGE, head=multipart_head("c.csv", "text/csv"))
        response = await client.post(IMPORT, content=body, headers=MULTIPART)
        assert response.status_code == 401
        assert body.sent < MIB

    async def test_a_ui_upload_without_its_csrf_header_is_refused_unread(self, browser: Browser) -> None:  # noqa: F811
        editor = await browser(Role.editor)
        body = StreamedBody(HUGE, head=multipart_head("c.csv", "text/csv"))
        response = await editor.post("/ui/contacts/import", content=body, headers=MULTIPART)
        assert response.status_code == 403
        assert body.sent < MIB

    async def test_a_ui_upload_with_a_wrong_csrf_header_is_refused_unread(self, browser: Browser) -> None:  # noqa: F811
        editor = await browser(Role.editor)
        body = StreamedBody(HUGE, head=multipart_head("c.csv", "text/csv"))
        response = await editor.post("/ui/contacts/import", content=body,
                                     headers={**MULTIPART, "x-csrf-token": "forged"})
        assert response.status_code == 403
        assert body.sent < MIB

    async def test_a_signed_out_ui_upload_goes_to_the_login_page_unread(self, client: httpx.AsyncClient) -> None:
        body = StreamedBody(HUGE, head=multipart_head("c.csv", "text/csv"))
        response = await client.post("/ui/contacts/import", content=body, headers=MULTIPART)
        assert response.status_code == 303 and response.headers["location"].startswith("/ui/login")
        assert body.sent < MIB

    async def test_a_ui_upload_with_its_csrf_header_is_imported(self, browser: Browser) -> None:  # noqa: F811
        editor = await browser(Role.editor)
        token = await page_csrf(editor, "/ui/contacts")
        response = await editor.post("/ui/contacts/import", headers={"x-csrf-token": token},
                                     files={"file": ("c.csv", b"phone\n+14155550100\n", "text/csv")})
        assert response.status_code == 200 and "Imported <strong>1</strong> new" in response.text


# --- a real server -------------------------------------------------------------------------------


@dataclass
class Answer:
    status: int
    body: bytes
    sent: int  # body bytes the client had handed to its socket when the answer came
    closed: bool  # the server closed the connection after answering


def raw_post(base_url: str, path: str, headers: dict[str, str], body: StreamedBody | None, *,
             declared: int | None = None, timeout: float = 30) -> Answer:
    """POSTs ``body`` (chunked, or as is after a ``declared`` Content-Length) and stops sending as soon
    as an answer can be read."""
    url = urlsplit(base_url)
    sock = socket.create_connection((url.hostname, url.port), timeout=timeout)
    framing = {"transfer-encoding": "chunked"} if declared is None else {"content-length": str(declared)}
    lines = [f"POST {path} HTTP/1.1", f"host: {url.hostname}"] + [f"{k}: {v}" for k, v in {**headers, **framing}.items()]
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
    pieces = body.pieces() if body is not None else iter(())
    pending = b""
    sent = 0
    try:
        while True:
            readable, writable, _ = select.select([sock], [sock], [], timeout)
            if readable or not writable:
                break
            if not pending:
                piece = next(pieces, None)
                if piece is None:
                    if declared is None:
                        sock.sendall(b"0\r\n\r\n")
                    break
                sent += len(piece)
                pending = (b"%x\r\n%s\r\n" % (len(piece), piece)) if declared is None else piece
            pending = pending[sock.send(pending):]
    except (BrokenPipeError, ConnectionResetError):
        pass
    return _read_answer(sock, sent)


def _read_answer(sock: socket.socket, sent: int) -> Answer:
    data = b""
    closed = False
    try:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                closed = True
                break
            data += chunk
    except ConnectionResetError:
        closed = True
    except TimeoutError:
        pass
    finally:
        sock.close()
    head, _, rest = data.partition(b"\r\n\r\n")
    assert head, "no answer"
    length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length"))
    return Answer(status=int(head.split()[1]), body=rest[:length], sent=sent, closed=closed)


@pytest.fixture
def server(settings: Settings) -> Iterator[str]:
    with live_server(settings) as base_url:
        yield base_url


@pytest.mark.server
class TestOnARealServer:
    """Bodies of 300 MiB against uvicorn: the answer comes while the client is still sending, long
    before the whole body (socket buffers hold a few MiB on each side; 64 MiB is a generous margin)."""

    def test_a_declared_length_over_the_limit_is_answered_without_waiting_for_the_body(self, server: str) -> None:
        answer = raw_post(server, CONTACTS, JSON, None, declared=HUGE, timeout=10)
        assert answer.status == 413 and b'"body_too_large"' in answer.body
        assert answer.closed

    def test_a_chunked_json_body_is_cut_off_while_it_is_sent(self, server: str) -> None:
        answer = raw_post(server, CONTACTS, JSON, StreamedBody(HUGE))
        assert answer.status == 413 and b'"limit_bytes":1048576' in answer.body
        assert answer.sent < 64 * MIB
        assert answer.closed

    def test_a_chunked_webhook_is_cut_off_while_it_is_sent(self, server: str) -> None:
        headers = {**JSON, "x-hub-signature-256": "sha256=00"}
        answer = raw_post(server, WEBHOOK, headers, StreamedBody(HUGE, head=b'{"entry": [], "pad": "'))
        assert answer.status == 413 and b'"body_too_large"' in answer.body
        assert answer.sent < 64 * MIB
        assert answer.closed

    def test_an_unauthenticated_upload_is_401_while_it_is_sent(self, server: str) -> None:
        body = StreamedBody(HUGE, head=multipart_head("a.pdf", "application/pdf"))
        answer = raw_post(server, "/api/v1/whatsapp-numbers/1/media", MULTIPART, body)
        assert answer.status == 401
        assert answer.sent < 64 * MIB
        assert answer.closed
