"""CloudAPIClient answer handling against a tiny scripted aiohttp server (odd answers Meta may give)."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import orjson
import pytest
from aiohttp import web

from herald.whatsapp.client import CloudAPIClient, NumberCredentials
from herald.whatsapp.errors import RetryClass, WhatsAppError
from tests.conftest import LOOPBACK_ALLOWED

Handler = Callable[[web.Request], web.Response]


@dataclass
class Graph:
    base_url: str = ""
    handlers: dict[str, Handler] = field(default_factory=dict)
    requests: list[tuple[str, str, dict[str, str], bytes]] = field(default_factory=list)

    def creds(self) -> NumberCredentials:
        return NumberCredentials("PN1", "WABA1", "tok", graph_api_base=self.base_url + "/")


@pytest.fixture
async def graph() -> AsyncIterator[Graph]:
    state = Graph()

    async def dispatch(request: web.Request) -> web.Response:
        body = await request.read()
        state.requests.append((request.method, request.path_qs, dict(request.headers), body))
        handler = state.handlers.get(f"{request.method} {request.path}")
        if handler is None:
            return web.Response(status=599, text="no handler")
        return handler(request)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", dispatch)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    state.base_url = f"http://127.0.0.1:{port}"
    yield state
    await runner.cleanup()


@pytest.fixture
async def client() -> AsyncIterator[CloudAPIClient]:
    async with CloudAPIClient(outbound=LOOPBACK_ALLOWED) as api:
        yield api


def json(payload: object, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        body=orjson.dumps(payload), status=status, content_type="application/json", headers=headers
    )


def fixed(response: web.Response) -> Handler:
    """A handler answering once (a web.Response cannot be sent twice)."""
    return lambda _request: response


SEND = "POST /v23.0/PN1/messages"
TEMPLATES = "GET /v23.0/WABA1/message_templates"


async def send(client: CloudAPIClient, graph: Graph):
    return await client.send_template(graph.creds(), "+5511988887777", "t", "en_US", ["a"])


async def send_error(client: CloudAPIClient, graph: Graph) -> WhatsAppError:
    with pytest.raises(WhatsAppError) as info:
        await send(client, graph)
    return info.value


class TestSendRequest:
    async def test_request_shape(self, graph, client):
        graph.handlers[SEND] = fixed(json({"messages": [{"id": "wamid.1"}]}))
        await send(client, graph)
        method, path, headers, body = graph.requests[0]
        assert (method, path) == ("POST", "/v23.0/PN1/messages")
        assert headers["Authorization"] == "Bearer tok"
        assert headers["Content-Type"] == "application/json"
        assert orjson.loads(body)["template"]["name"] == "t"

    async def test_missing_message_status_means_accepted(self, graph, client):
        graph.handlers[SEND] = fixed(json({"messages": [{"id": "wamid.1"}]}))
        result = await send(client, graph)
        assert (result.wamid, result.message_status, result.wa_id) == ("wamid.1", "accepted", None)

    async def test_held_for_quality_assessment(self, graph, client):
        graph.handlers[SEND] = fixed(
            json(
                {
                    "contacts": [{"input": "+5511988887777", "wa_id": "5511988887777"}],
                    "messages": [{"id": "wamid.2", "message_status": "held_for_quality_assessment"}],
                }
            )
        )
        result = await send(client, graph)
        assert result.held and result.wa_id == "5511988887777"


class TestErrorAnswers:
    async def test_envelope_with_subcode(self, graph, client):
        graph.handlers[SEND] = fixed(
            json(
                {
                    "error": {
                        "message": "(#100) Invalid parameter",
                        "type": "OAuthException",
                        "code": 100,
                        "error_subcode": 33,
                        "fbtrace_id": "AbC",
                    }
                },
                status=400,
            )
        )
        error = await send_error(client, graph)
        assert (error.code, error.error_subcode, error.fbtrace_id, error.http_status) == (100, 33, "AbC", 400)
        assert error.retry_class is RetryClass.NEVER

    async def test_html_gateway_page_is_transient(self, graph, client):
        graph.handlers[SEND] = fixed(web.Response(status=502, text="<html>Bad Gateway</html>"))
        error = await send_error(client, graph)
        assert (error.code, error.http_status, error.retry_class) == (None, 502, RetryClass.RETRY_NOW)
        assert "Bad Gateway" in error.message

    async def test_proxy_429_backs_off(self, graph, client):
        graph.handlers[SEND] = fixed(web.Response(status=429, text="slow down"))
        assert (await send_error(client, graph)).retry_class is RetryClass.BACK_OFF

    async def test_unreadable_success_is_not_retried(self, graph, client):
        # The message may have been accepted: retrying could send it twice.
        graph.handlers[SEND] = fixed(web.Response(status=200, text="not json"))
        error = await send_error(client, graph)
        assert (error.http_status, error.retry_class) == (200, RetryClass.NEVER)

    async def test_success_without_message_id(self, graph, client):
        graph.handlers[SEND] = fixed(json({"messages": []}))
        assert (await send_error(client, graph)).retry_class is RetryClass.NEVER

    async def test_client_must_be_started(self, graph):
        with pytest.raises(RuntimeError):
            await send(CloudAPIClient(outbound=LOOPBACK_ALLOWED), graph)


class TestTemplatePaging:
    async def test_cursor_paging_keeps_fields_and_limit(self, graph, client):
        pages = {
            None: {"data": [{"name": "a"}], "paging": {"cursors": {"after": "C1"}, "next": "https://x/next"}},
            "C1": {"data": [{"name": "b"}], "paging": {"cursors": {"after": "C2"}, "next": "https://x/next"}},
            "C2": {"data": [{"name": "c"}], "paging": {"cursors": {"after": "C3"}}},
        }
        graph.handlers[TEMPLATES] = lambda request: json(pages[request.query.get("after")])
        templates = await client.list_templates(graph.creds(), page_size=1)
        assert [t["name"] for t in templates] == ["a", "b", "c"]
        for _, path, _, _ in graph.requests:
            assert "fields=name,language,status,category,parameter_format,components" in path.replace(
                "%2C", ","
            )
            assert "limit=1" in path

    async def test_next_link_without_cursor_is_followed_on_the_same_host(self, graph, client):
        def handler(request: web.Request) -> web.Response:
            if request.query.get("page") == "2":
                return json({"data": [{"name": "b"}]})
            return json(
                {
                    "data": [{"name": "a"}],
                    "paging": {"next": f"{graph.base_url}/v23.0/WABA1/message_templates?page=2"},
                }
            )

        graph.handlers[TEMPLATES] = handler
        assert [t["name"] for t in await client.list_templates(graph.creds())] == ["a", "b"]

    async def test_next_link_to_another_host_is_refused(self, graph, client):
        graph.handlers[TEMPLATES] = fixed(
            json({"data": [], "paging": {"next": "https://evil.example/steal"}})
        )
        with pytest.raises(WhatsAppError, match="another host"):
            await client.list_templates(graph.creds())

    async def test_repeated_cursor_ends_the_listing(self, graph, client):
        page = {"data": [{"name": "a"}], "paging": {"cursors": {"after": "SAME"}, "next": "n"}}
        graph.handlers[TEMPLATES] = lambda _request: json(page)
        templates = await client.list_templates(graph.creds())
        assert [t["name"] for t in templates] == ["a", "a"]
        assert len(graph.requests) == 2


class TestNumberInfo:
    async def test_deprecated_tier_field_and_missing_throughput(self, graph, client):
        graph.handlers["GET /v23.0/PN1"] = fixed(json({"id": "PN1", "messaging_limit_tier": "TIER_250"}))
        info = await client.get_number_info(graph.creds())
        assert (info.throughput_mps, info.messaging_limit_tier, info.quality_rating) == (80, "TIER_250", None)


class TestNumberCredentials:
    def test_urls_and_headers_are_derived_once(self):
        creds = NumberCredentials("PN1", "WABA1", "secret-token", graph_api_base="http://127.0.0.1:8090/")
        assert creds.root_url == "http://127.0.0.1:8090/v23.0"
        assert creds.messages_url == "http://127.0.0.1:8090/v23.0/PN1/messages"
        assert str(creds.messages_endpoint) == creds.messages_url
        assert dict(creds.json_headers) == {
            "Authorization": "Bearer secret-token",
            "Content-Type": "application/json",
            "User-Agent": "Herald",
        }

    def test_token_is_not_in_repr_and_equality_ignores_derived_fields(self):
        creds = NumberCredentials("PN1", "WABA1", "secret-token")
        assert "secret-token" not in repr(creds)
        assert creds == NumberCredentials("PN1", "WABA1", "secret-token")
        rotated = dataclasses.replace(creds, access_token="new")
        assert rotated.auth_headers == {"Authorization": "Bearer new", "User-Agent": "Herald"}
        assert hash(creds) == hash(NumberCredentials("PN1", "WABA1", "secret-token"))
