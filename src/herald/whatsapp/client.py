"""Async WhatsApp Cloud API client over one shared aiohttp session.

One client per process; every call names the number it acts for (`NumberCredentials`), so the same
client talks to Meta and to the simulator. aiohttp rather than httpx on this path: see
docs/architecture.md, "A message's path" (httpx's shared pool collapsed to ~100 req/s at the concurrency we need).

The session is built by the outbound URL policy (``herald.kit.outbound``), which checks every
connection; each call also checks the number's Graph API base, and redirects are not followed:
the access token goes only where the number says.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import aiohttp
import orjson
from aiohttp.abc import AbstractStreamWriter
from multidict import CIMultiDict
from yarl import URL

from herald.kit.outbound import OutboundPolicy, OutboundRefused, client_session, refusal_of
from herald.whatsapp.errors import RefusedByPolicy, RetryClass, WhatsAppError, error_from_response
from herald.whatsapp.payloads import HeaderMedia, template_message, text_message

log = logging.getLogger(__name__)

DEFAULT_GRAPH_API_BASE = "https://graph.facebook.com"
DEFAULT_GRAPH_API_VERSION = "v23.0"
DEFAULT_CONNECTION_LIMIT = 256
# sock_connect, not connect: aiohttp's ``connect`` also counts the wait for a free pooled
# connection, and arming that timer on every request costs ~5 % of a busy worker's CPU.
DEFAULT_TIMEOUT = aiohttp.ClientTimeout(total=30, sock_connect=10)
TEMPLATE_FIELDS = "name,language,status,category,parameter_format,components"
NUMBER_FIELDS = (
    "display_phone_number,verified_name,quality_rating,throughput,whatsapp_business_manager_messaging_limit"
)
THROUGHPUT_MPS = {"STANDARD": 80, "HIGH": 1000}  # Meta's throughput tiers, messages per second
MAX_TEMPLATE_PAGES = 1000  # a guard against a server that never stops paging
_VERSION_WARNING_HEADER = "X-Ad-Api-Version-Warning"
_JSON = "application/json"
USER_AGENT = "Herald"


@dataclass(frozen=True, slots=True)
class NumberCredentials:
    """Everything needed to call the Cloud API for one WhatsApp number."""

    phone_number_id: str
    waba_id: str
    access_token: str = field(repr=False)
    graph_api_base: str = DEFAULT_GRAPH_API_BASE
    graph_api_version: str = DEFAULT_GRAPH_API_VERSION
    # Derived once here so the send hot path does no string building or dict copying.
    root_url: str = field(init=False, repr=False, compare=False)
    messages_url: str = field(init=False, repr=False, compare=False)
    # Parsed once: aiohttp would otherwise parse the URL string and copy the headers on every send.
    messages_endpoint: URL = field(init=False, repr=False, compare=False)
    # Meta's Marketing Messages API for WhatsApp: MARKETING templates of numbers that use it (docs/whatsapp.md).
    marketing_messages_endpoint: URL = field(init=False, repr=False, compare=False)
    auth_headers: Mapping[str, str] = field(init=False, repr=False, compare=False)
    json_headers: Mapping[str, str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        base = self.graph_api_base.rstrip("/")
        version = self.graph_api_version.strip("/")
        if version and not version.startswith("v"):
            version = "v" + version
        root = f"{base}/{version}" if version else base
        auth = {"Authorization": f"Bearer {self.access_token}", "User-Agent": USER_AGENT}
        object.__setattr__(self, "root_url", root)
        object.__setattr__(self, "messages_url", f"{root}/{self.phone_number_id}/messages")
        object.__setattr__(self, "messages_endpoint", URL(self.messages_url))
        object.__setattr__(self, "marketing_messages_endpoint", URL(f"{root}/{self.phone_number_id}/marketing_messages"))
        object.__setattr__(self, "auth_headers", auth)
        object.__setattr__(self, "json_headers", CIMultiDict({**auth, "Content-Type": _JSON}))


@dataclass(frozen=True, slots=True)
class SendResult:
    """Meta accepted the message; delivery is reported later by status webhooks."""

    wamid: str
    message_status: str  # accepted | held_for_quality_assessment
    wa_id: str | None

    @property
    def held(self) -> bool:
        return self.message_status == "held_for_quality_assessment"


@dataclass(frozen=True, slots=True)
class NumberInfo:
    throughput_mps: int
    messaging_limit_tier: str | None
    quality_rating: str | None
    display_phone_number: str | None
    verified_name: str | None = None
    throughput_level: str | None = None


class CloudAPIClient:
    """Owns one aiohttp session; use `async with CloudAPIClient(outbound=...) as client` or start()/close()."""

    def __init__(
        self,
        *,
        outbound: OutboundPolicy,
        connection_limit: int = DEFAULT_CONNECTION_LIMIT,
        timeout: aiohttp.ClientTimeout = DEFAULT_TIMEOUT,
    ) -> None:
        self._outbound = outbound
        self._connection_limit = connection_limit
        self._timeout = timeout
        self._session: aiohttp.ClientSession | None = None
        self._seen_version_warnings: set[str] = set()
        self._base_refusals: dict[str, str | None] = {}  # graph_api_base → why the policy refuses it

    async def start(self) -> None:
        if self._session is None:
            # No session-wide headers: aiohttp would merge them into every request's; each call
            # carries the User-Agent in the number's prepared headers instead.
            self._session = client_session(
                self._outbound, timeout=self._timeout, limit=self._connection_limit, ttl_dns_cache=300
            )

    @property
    def connection_limit(self) -> int:
        """How many requests can be in flight at once (the connector's limit)."""
        return self._connection_limit

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
        self._session = None

    async def __aenter__(self) -> CloudAPIClient:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def send_message(
        self, creds: NumberCredentials, message: Mapping[str, Any] | bytes, *,
        on_write: Callable[[], None] | None = None, marketing_messages: bool = False,
    ) -> SendResult:
        """POST any prepared message body (a mapping, or its JSON already encoded); the one path every
        send takes. ``on_write`` is called right before the request goes out on the connection (pacing
        counts sends from then). ``marketing_messages``: to Meta's Marketing Messages API
        (``/marketing_messages``, a MARKETING template only) rather than ``/messages``; the answer and
        the errors are the same shape."""
        data: Any = message if isinstance(message, bytes) else orjson.dumps(message)
        if on_write is not None:
            data = _NotifyingBody(data, on_write)
        endpoint = creds.marketing_messages_endpoint if marketing_messages else creds.messages_endpoint
        document = await self._call(creds, "POST", endpoint, creds.json_headers, data=data)
        return _send_result(document)

    async def send_template(
        self,
        creds: NumberCredentials,
        to: str,
        name: str,
        language: str,
        body_params: Sequence[str] = (),
        header: HeaderMedia | None = None,
        quick_reply_payloads: Sequence[str] | None = None,
        biz_opaque_callback_data: str | None = None,
    ) -> SendResult:
        message = template_message(
            to,
            name,
            language,
            tuple(body_params),
            header=header,
            quick_reply_payloads=tuple(quick_reply_payloads) if quick_reply_payloads else None,
            biz_opaque_callback_data=biz_opaque_callback_data,
        )
        return await self.send_message(creds, message)

    async def send_text(
        self, creds: NumberCredentials, to: str, body: str, preview_url: bool = False
    ) -> SendResult:
        return await self.send_message(creds, text_message(to, body, preview_url))

    async def upload_media(self, creds: NumberCredentials, data: bytes, filename: str, mime_type: str) -> str:
        """Upload header media; returns the media id (valid 30 days)."""
        form = aiohttp.FormData()
        form.add_field("messaging_product", "whatsapp")
        form.add_field("file", data, filename=filename, content_type=mime_type)
        form.add_field("type", mime_type)
        url = f"{creds.root_url}/{creds.phone_number_id}/media"
        document = await self._call(creds, "POST", url, creds.auth_headers, data=form)
        media_id = document.get("id")
        if not media_id:
            raise _unexpected_answer("media upload answered without an id")
        return str(media_id)

    async def list_templates(
        self, creds: NumberCredentials, page_size: int = 100, status: str | None = None
    ) -> list[dict[str, Any]]:
        """Every template of the number's WABA, following the paging cursors to the last page."""
        url = f"{creds.root_url}/{creds.waba_id}/message_templates"
        params = {"fields": TEMPLATE_FIELDS, "limit": str(page_size)}
        if status is not None:
            params["status"] = status
        page_url: str = url
        page_params: dict[str, str] | None = params
        templates: list[dict[str, Any]] = []
        seen_cursors: set[str] = set()
        for _ in range(MAX_TEMPLATE_PAGES):
            document = await self._call(creds, "GET", page_url, creds.auth_headers, params=page_params)
            templates.extend(item for item in document.get("data") or () if isinstance(item, dict))
            next_page = _next_page(document, creds, seen_cursors)
            if next_page is None:
                return templates
            kind, value = next_page
            if kind == "after":
                page_url, page_params = url, {**params, "after": value}
            else:
                page_url, page_params = value, None  # the link carries fields, limit and cursor
        raise _unexpected_answer(f"template listing did not end after {MAX_TEMPLATE_PAGES} pages")

    async def get_number_info(self, creds: NumberCredentials) -> NumberInfo:
        url = f"{creds.root_url}/{creds.phone_number_id}"
        document = await self._call(creds, "GET", url, creds.auth_headers, params={"fields": NUMBER_FIELDS})
        return _number_info(document)

    async def _call(
        self,
        creds: NumberCredentials,
        method: str,
        url: str | URL,
        headers: Mapping[str, str],
        *,
        data: Any = None,
        params: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        session = self._session
        if session is None:
            raise RuntimeError("CloudAPIClient is not started: use `async with` or await start()")
        refused = self._refusal(creds.graph_api_base)
        if refused is not None:
            raise RefusedByPolicy(refused)
        try:
            async with session.request(
                method, url, data=data, params=params, headers=headers, allow_redirects=False
            ) as response:
                body = await response.read()
                status = response.status
                warning = response.headers.get(_VERSION_WARNING_HEADER)
        except (aiohttp.ClientError, TimeoutError) as exc:
            refusal = refusal_of(exc)
            if refusal is not None:
                raise RefusedByPolicy(str(refusal)) from refusal
            raise _network_error(exc) from exc
        if warning is not None:
            self._log_version_warning(warning, url)
        if not 200 <= status < 300:
            raise error_from_response(status, body)
        return _decode_success(status, body)

    def _refusal(self, graph_api_base: str) -> str | None:
        """The policy's verdict on a number's base (saved before the policy, say), judged once per base."""
        if graph_api_base not in self._base_refusals:
            if len(self._base_refusals) > 1000:
                self._base_refusals.clear()
            try:
                self._outbound.check_url(graph_api_base)
                self._base_refusals[graph_api_base] = None
            except OutboundRefused as exc:
                self._base_refusals[graph_api_base] = str(exc)
        return self._base_refusals[graph_api_base]

    def _log_version_warning(self, warning: str, url: str | URL) -> None:
        # Once per distinct text: at thousands of sends a second, one line per call would drown the log.
        if warning not in self._seen_version_warnings:
            self._seen_version_warnings.add(warning)
            log.warning("Graph API version warning for %s: %s", url, warning)


class _NotifyingBody(aiohttp.BytesPayload):
    """A JSON body that calls back when aiohttp writes it (the headers go out with it)."""

    def __init__(self, value: bytes, on_write: Callable[[], None]) -> None:
        super().__init__(value, content_type="application/json")
        self._on_write = on_write

    async def write_with_length(self, writer: AbstractStreamWriter, content_length: int | None) -> None:
        self._on_write()
        await super().write_with_length(writer, content_length)


def _network_error(exc: BaseException) -> WhatsAppError:
    kind = "timeout" if isinstance(exc, TimeoutError) else "network error"
    detail = str(exc) or type(exc).__name__
    return WhatsAppError(f"{kind}: {detail}", retry_class=RetryClass.RETRY_NOW)


def _unexpected_answer(message: str, http_status: int = 200) -> WhatsAppError:
    # A 2xx we cannot read: the call may have taken effect, so retrying could duplicate it.
    return WhatsAppError(message, http_status=http_status, retry_class=RetryClass.NEVER)


def _decode_success(status: int, body: bytes) -> dict[str, Any]:
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise _unexpected_answer("WhatsApp answered with a body that is not JSON", status) from None
    if not isinstance(document, dict):
        raise _unexpected_answer("WhatsApp answered with JSON that is not an object", status)
    return document


def _send_result(document: dict[str, Any]) -> SendResult:
    message = _first_item(document.get("messages"))
    wamid = message.get("id")
    if not isinstance(wamid, str) or not wamid:
        raise _unexpected_answer("send answered without a message id")
    wa_id = _first_item(document.get("contacts")).get("wa_id")
    return SendResult(
        wamid=wamid,
        message_status=message.get("message_status") or "accepted",  # absent means accepted (docs/architecture.md, "Sending")
        wa_id=wa_id if isinstance(wa_id, str) and wa_id else None,
    )


def _first_item(items: object) -> dict[str, Any]:
    if isinstance(items, list) and items and isinstance(items[0], dict):
        return items[0]
    return {}


def _next_page(
    document: dict[str, Any], creds: NumberCredentials, seen_cursors: set[str]
) -> tuple[str, str] | None:
    """("after", cursor) or ("url", next) for the next page; None on the last page."""
    paging = document.get("paging")
    if not isinstance(paging, dict) or not paging.get("next"):
        return None
    cursors = paging.get("cursors")
    after = cursors.get("after") if isinstance(cursors, dict) else None
    if isinstance(after, str) and after:
        if after in seen_cursors:
            return None
        seen_cursors.add(after)
        return ("after", after)
    next_url = str(paging["next"])
    # The token goes with the request: never follow a link to a host we were not configured for.
    if not next_url.startswith(creds.graph_api_base.rstrip("/") + "/"):
        raise _unexpected_answer(f"template paging points to another host: {next_url}")
    return ("url", next_url)


def _number_info(document: dict[str, Any]) -> NumberInfo:
    throughput = document.get("throughput")
    level = _opt_str(throughput.get("level")) if isinstance(throughput, dict) else None
    tier = document.get("whatsapp_business_manager_messaging_limit") or document.get("messaging_limit_tier")
    return NumberInfo(
        throughput_mps=THROUGHPUT_MPS.get(level or "", THROUGHPUT_MPS["STANDARD"]),
        messaging_limit_tier=tier if isinstance(tier, str) else None,
        quality_rating=_opt_str(document.get("quality_rating")),
        display_phone_number=_opt_str(document.get("display_phone_number")),
        verified_name=_opt_str(document.get("verified_name")),
        throughput_level=level,
    )


def _opt_str(value: object) -> str | None:
    return value if isinstance(value, str) else None
