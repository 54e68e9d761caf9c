"""The Graph API routes the simulator speaks, under `/{version}/...`."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from herald.simulator import arrival
from herald.simulator.errors import GraphError, bad_token, new_trace_id, unknown_object
from herald.simulator.media import MediaStore
from herald.simulator.scenario import PhoneNumber
from herald.simulator.sending import send_message
from herald.simulator.state import SimState

_VERSION = re.compile(r"v(\d+)\.(\d+)")
OLDEST_VERSION, NEWEST_VERSION = 19, 26
# Versions close to retirement are answered by the first version still comfortably supported.
AUTO_UPGRADE_BELOW, AUTO_UPGRADE_TO = 22, "v22.0"

GraphHandler = Callable[[Request, SimState, str], Awaitable[dict[str, Any]]]


def json_response(payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(payload), status_code=status, media_type="application/json", headers=headers)


def sim_state(request: Request) -> SimState:
    state: SimState = request.app.state.sim
    return state


def resolve_version(raw: str) -> tuple[str, dict[str, str]]:
    """The version that answers, and the headers Meta adds when it auto-upgrades a call."""
    match = _VERSION.fullmatch(raw)
    if match is None:
        raise GraphError(100, f"Unknown path components: /{raw}")
    major = int(match.group(1))
    if major < OLDEST_VERSION:
        raise GraphError(2635, f"You are calling a deprecated version of the Graph API ({raw}). "
                               f"Please update to the latest version.", message="Deprecated Graph API version")
    if major > NEWEST_VERSION:
        raise GraphError(100, f"Unknown Graph API version {raw}.")
    if major < AUTO_UPGRADE_BELOW:
        warning = f"The call has been auto-upgraded to {AUTO_UPGRADE_TO} as {raw} will be deprecated."
        return AUTO_UPGRADE_TO, {"X-Ad-Api-Version-Warning": warning, "Facebook-Api-Version": AUTO_UPGRADE_TO}
    return raw, {"Facebook-Api-Version": raw}


def graph_endpoint(handler: GraphHandler) -> Callable[[Request], Awaitable[Response]]:
    """Common envelope: version headers, Graph errors, counted rejections, scenario latency."""

    async def endpoint(request: Request) -> Response:
        state = sim_state(request)
        headers = {"X-Fb-Trace-Id": new_trace_id()}
        try:
            version, version_headers = resolve_version(request.path_params["version"])
            headers.update(version_headers)
            payload, status = await handler(request, state, version), 200
        except GraphError as error:
            state.rejected[error.code] += 1
            payload, status = error.envelope(), error.http_status
        if state.scenario.latency_ms:
            await asyncio.sleep(state.scenario.latency_ms / 1000)
        return json_response(payload, status, headers)

    return endpoint


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    if header[:7].lower() == "bearer " and header[7:].strip():
        return header[7:].strip()
    return request.query_params.get("access_token") or None


def token_fits(number: PhoneNumber, token: str) -> bool:
    return number.access_token is None or number.access_token == token


def authorized_number(request: Request, state: SimState) -> PhoneNumber:
    token = bearer_token(request)
    if token is None:
        raise bad_token("An active access token must be used to query information about the current user.")
    phone_number_id = request.path_params["object_id"]
    number = state.number(phone_number_id)
    if number is None:
        raise unknown_object(phone_number_id)
    if not token_fits(number, token):
        raise bad_token()
    return number


def require_any_token(request: Request, state: SimState, numbers: list[PhoneNumber]) -> None:
    token = bearer_token(request)
    if token is None or not any(token_fits(number, token) for number in numbers):
        raise bad_token()


async def post_messages(request: Request, state: SimState, version: str) -> dict[str, Any]:
    return await _post_send(request, state, version, marketing_messages=False)


async def post_marketing_messages(request: Request, state: SimState, version: str) -> dict[str, Any]:
    """Meta's Marketing Messages API for WhatsApp: MARKETING templates only (``marketing_messages.py``)."""
    return await _post_send(request, state, version, marketing_messages=True)


async def _post_send(request: Request, state: SimState, version: str, *, marketing_messages: bool) -> dict[str, Any]:
    number = authorized_number(request, state)
    try:
        body = orjson.loads(await request.body())
    except orjson.JSONDecodeError as exc:
        raise GraphError(100, "The request body is not valid JSON.") from exc
    if not isinstance(body, dict):
        raise GraphError(100, "The request body must be a JSON object.")
    await _inject_faults(state, number, body, version, marketing_messages=marketing_messages)
    return send_message(state, number, body, version, now=state.at(arrival.arrived_at(request.scope)),
                        marketing_messages=marketing_messages)


async def _inject_faults(state: SimState, number: PhoneNumber, body: dict[str, Any], version: str, *,
                         marketing_messages: bool = False) -> None:
    scenario, rng = state.scenario, state.rng
    if scenario.error_rate_5xx and rng.random() < scenario.error_rate_5xx:
        raise GraphError(131000, "Simulated server error (error_rate_5xx).")
    if scenario.timeout_probability and rng.random() < scenario.timeout_probability:
        if rng.random() < scenario.timeout_accept_probability:
            with contextlib.suppress(GraphError):
                send_message(state, number, body, version, marketing_messages=marketing_messages)
        await asyncio.sleep(scenario.timeout_hang_ms / 1000)
        raise GraphError(131000, "Simulated timeout (timeout_probability); the message may have been accepted.")


async def post_media(request: Request, state: SimState, version: str) -> dict[str, Any]:
    authorized_number(request, state)
    form = await request.form(max_part_size=16 * 1024 * 1024)
    if form.get("messaging_product") != "whatsapp":
        raise GraphError(100, "The parameter messaging_product is required and must be 'whatsapp'.")
    upload = form.get("file")
    if not isinstance(upload, UploadFile):
        raise GraphError(100, "The parameter file is required.")
    mime_type = form.get("type")
    if not isinstance(mime_type, str) or not mime_type:
        raise GraphError(100, "The parameter type is required (a MIME type such as image/jpeg).")
    data = await upload.read()
    media = state.media.upload(mime_type, data, state.now())
    return {"id": media.id}


async def get_templates(request: Request, state: SimState, version: str) -> dict[str, Any]:
    waba_id = request.path_params["object_id"]
    numbers = [n for n in state.scenario.phone_numbers if n.waba_id == waba_id]
    if not numbers:
        raise unknown_object(waba_id)
    require_any_token(request, state, numbers)
    return state.catalog.page(waba_id, dict(request.query_params), str(request.url))


NUMBER_DEFAULT_FIELDS = ("id", "display_phone_number", "verified_name", "quality_rating")


def number_fields(number: PhoneNumber, fields: list[str]) -> dict[str, Any]:
    mps = number.throughput_mps
    available: dict[str, Any] = {
        "id": number.phone_number_id,
        "display_phone_number": number.display_phone_number,
        "verified_name": number.verified_name,
        "quality_rating": number.quality_rating,
        "throughput": {"level": "STANDARD" if mps and mps <= 80 else "HIGH"},
        "whatsapp_business_manager_messaging_limit": number.messaging_limit_tier,
        "messaging_limit_tier": number.messaging_limit_tier,
        "code_verification_status": "VERIFIED",
        "platform_type": "CLOUD_API",
    }
    wanted = ["id", *fields] if fields else list(NUMBER_DEFAULT_FIELDS)
    return {f: available[f] for f in wanted if f in available}


async def get_object(request: Request, state: SimState, version: str) -> dict[str, Any]:
    object_id = request.path_params["object_id"]
    number = state.number(object_id)
    if number is not None:
        authorized_number(request, state)
        fields = [f.strip() for f in request.query_params.get("fields", "").split(",") if f.strip()]
        return number_fields(number, fields)
    require_any_token(request, state, state.scenario.phone_numbers)
    media = state.media.get(object_id, state.now())
    if media is None:
        raise unknown_object(object_id)
    base = str(request.base_url).rstrip("/")
    return {"messaging_product": "whatsapp", "url": state.media.download_url(base, media.id, state.now()),
            "mime_type": media.mime_type, "sha256": media.sha256, "file_size": len(media.data), "id": media.id}


async def delete_object(request: Request, state: SimState, version: str) -> dict[str, Any]:
    object_id = request.path_params["object_id"]
    require_any_token(request, state, state.scenario.phone_numbers)
    if not state.media.delete(object_id):
        raise unknown_object(object_id)
    return {"success": True}


async def download_media(request: Request) -> Response:
    """The short-lived media URL: valid 5 minutes of simulator time, like Meta's lookaside URLs."""
    state = sim_state(request)
    media_id = request.path_params["media_id"]
    store: MediaStore = state.media
    try:
        expires = int(request.query_params.get("expires", "0"))
    except ValueError:
        expires = 0
    media = store.get(media_id, state.now())
    if (media is None or state.now() > expires
            or request.query_params.get("sig") != store.url_signature(media_id, expires)):
        return Response(b"URL signature expired", status_code=404)
    return Response(media.data, media_type=media.mime_type)


def graph_routes() -> list[Route]:
    return [
        Route("/_sim/media-download/{media_id}", download_media, methods=["GET"]),
        Route("/{version}/{object_id}/messages", graph_endpoint(post_messages), methods=["POST"]),
        Route("/{version}/{object_id}/marketing_messages", graph_endpoint(post_marketing_messages), methods=["POST"]),
        Route("/{version}/{object_id}/media", graph_endpoint(post_media), methods=["POST"]),
        Route("/{version}/{object_id}/message_templates", graph_endpoint(get_templates), methods=["GET"]),
        Route("/{version}/{object_id}", graph_endpoint(get_object), methods=["GET"]),
        Route("/{version}/{object_id}", graph_endpoint(delete_object), methods=["DELETE"]),
    ]
