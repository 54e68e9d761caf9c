"""`/_sim/...`: inspect what was sent, make users act, move the clock, change the scenario live."""

from __future__ import annotations

from typing import Any

import orjson
from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from herald.simulator import account_events, user_messages
from herald.simulator.api import json_response, sim_state
from herald.simulator.inbound import content_for, inbound_update, preference_update, value_errors_updates
from herald.simulator.scenario import Scenario, digits
from herald.simulator.sending import schedule_status
from herald.simulator.state import SimState


class ControlError(Exception):
    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


async def _json(request: Request) -> dict[str, Any]:
    raw = await request.body()
    try:
        body = orjson.loads(raw) if raw else {}
    except orjson.JSONDecodeError as exc:
        raise ControlError("body is not valid JSON") from exc
    if not isinstance(body, dict):
        raise ControlError("body must be a JSON object")
    return body


def _number_id(state: SimState, body: dict[str, Any]) -> str:
    phone_number_id = str(body.get("phone_number_id") or state.scenario.phone_numbers[0].phone_number_id)
    if state.number(phone_number_id) is None:
        raise ControlError(f"unknown phone_number_id {phone_number_id}", 404)
    return phone_number_id


def control(handler: Any) -> Any:
    async def endpoint(request: Request) -> Response:
        try:
            return json_response(await handler(request, sim_state(request)))
        except ControlError as error:
            return json_response({"error": str(error)}, error.status)
        except ValidationError as error:
            # Without the context: a validator's own ValueError is in it, and it is not JSON.
            details = error.errors(include_url=False, include_context=False)
            return json_response({"error": "invalid scenario", "details": details}, 422)

    return endpoint


async def messages(request: Request, state: SimState) -> dict[str, Any]:
    since = int(request.query_params.get("since", "0") or 0)
    limit = int(request.query_params.get("limit", "10000") or 10000)
    chunk = state.messages[since:since + limit]
    return {"messages": [m.as_dict() for m in chunk], "next": since + len(chunk), "total": len(state.messages)}


async def inbound(request: Request, state: SimState) -> dict[str, Any]:
    """A user writes. Without ``type``: text, a quick-reply tap (``button_payload``), a raw
    ``interactive`` object or ``unsupported``. With ``type``: one of ``user_messages.KINDS``, its
    fields in the body (docs/whatsapp.md, "What the simulator emits")."""
    body = await _json(request)
    phone_number_id = _number_id(state, body)
    wa_id = digits(str(body.get("from") or ""))
    # A username user the simulator knows only by a business-scoped user id: ``from_user_id`` alone.
    user_id = None if wa_id else str(body.get("from_user_id") or "") or None
    if not wa_id and user_id is None:
        raise ControlError("'from' (E.164) or 'from_user_id' is required")
    kind = body.get("type")
    if kind is None:
        content = content_for(text=body.get("text"), button_payload=body.get("button_payload"),
                              button_text=body.get("button_text"), interactive=body.get("interactive"),
                              unsupported=bool(body.get("unsupported")))
    else:
        try:
            content = user_messages.build(state, {**body, "wa_id": wa_id})
        except user_messages.KindError as error:
            raise ControlError(str(error)) from error
    system = kind in user_messages.SYSTEM_KINDS
    context_id = None if kind in user_messages.WITHOUT_CONTEXT else body.get("context_id")
    wamid, update = inbound_update(state, phone_number_id, wa_id, content, context_id=context_id,
                                   hide_phone=bool(body.get("hide_phone")), user_id=user_id, system=system,
                                   with_contacts=kind not in user_messages.WITHOUT_CONTACTS)
    if not system:
        # The window opens now, not when the webhook leaves: a bot may answer before it arrives.
        state.last_inbound[(phone_number_id, wa_id or user_id or "")] = state.now()
    state.dispatcher.schedule(0, update)
    state.dispatcher.wake()
    return {"id": wamid}


async def webhook_errors(request: Request, state: SimState) -> dict[str, Any]:
    """A `messages` webhook whose value carries only `errors[]` (default 131000)."""
    body = await _json(request)
    phone_number_id = _number_id(state, body)
    codes = body.get("codes") or [131000]
    if not isinstance(codes, list) or not all(isinstance(c, int) and not isinstance(c, bool) for c in codes):
        raise ControlError("'codes' must be a list of integer error codes")
    for update in value_errors_updates(phone_number_id, codes):
        state.dispatcher.schedule(0, update)
    state.dispatcher.wake()
    return {"codes": codes}


async def failed_status(request: Request, state: SimState) -> dict[str, Any]:
    """A `failed` status for an accepted message (default 131047, re-engagement), as Meta reports
    failures found after the send was accepted."""
    body = await _json(request)
    wamid = str(body.get("wamid") or "")
    code = body.get("code", 131047)
    if not isinstance(code, int) or isinstance(code, bool):
        raise ControlError("'code' must be an integer error code")
    message = next((m for m in reversed(state.messages) if m.wamid == wamid), None)
    if message is None:
        raise ControlError(f"no accepted message with wamid '{wamid}'", 404)
    schedule_status(state, message, "failed", 0, error_code=code)
    state.dispatcher.wake()
    return {"wamid": wamid, "code": code}


READABLE = ("delivered", "read")


async def status(request: Request, state: SimState) -> dict[str, Any]:
    """A ``delivered`` or ``read`` status for an accepted message, now: the user opened it, on cue
    (a test that needs one contact to read and another not to)."""
    body = await _json(request)
    wamid = str(body.get("wamid") or "")
    kind = body.get("status", "read")
    if kind not in READABLE:
        raise ControlError(f"'status' must be one of {', '.join(READABLE)}")
    message = next((m for m in reversed(state.messages) if m.wamid == wamid), None)
    if message is None:
        raise ControlError(f"no accepted message with wamid '{wamid}'", 404)
    schedule_status(state, message, kind, 0, pricing=True)
    state.dispatcher.wake()
    return {"wamid": wamid, "status": kind}


async def user_preferences(request: Request, state: SimState) -> dict[str, Any]:
    body = await _json(request)
    phone_number_id = _number_id(state, body)
    wa_id = digits(str(body.get("wa_id") or body.get("from") or ""))
    value = body.get("value")
    if not wa_id or value not in ("stop", "resume"):
        raise ControlError("wa_id and value ('stop' or 'resume') are required")
    state.dispatcher.schedule(0, preference_update(state, phone_number_id, wa_id, value))
    state.dispatcher.wake()
    return {"wa_id": wa_id, "value": value}


def account_event(handler: Any) -> Any:
    """A template or number webhook (simulator/account_events.py), emitted at once."""

    async def endpoint(request: Request, state: SimState) -> dict[str, Any]:
        body = await _json(request)
        try:
            answer: dict[str, Any] = handler(state, body)
        except account_events.EventError as error:
            raise ControlError(str(error), error.status) from error
        state.dispatcher.wake()
        return answer

    return endpoint


async def stats(request: Request, state: SimState) -> dict[str, Any]:
    return state.stats()


async def reset(request: Request, state: SimState) -> dict[str, Any]:
    state.reset()
    return {"ok": True}


async def scenario(request: Request, state: SimState) -> dict[str, Any]:
    body = await _json(request)
    merge = request.query_params.get("merge", "").lower() in ("1", "true", "yes")
    state.load(state.scenario.merged(body) if merge else Scenario.model_validate(body))
    return {"ok": True, "scenario": state.scenario.model_dump()}


async def get_scenario(request: Request, state: SimState) -> dict[str, Any]:
    return state.scenario.model_dump()


async def clock(request: Request, state: SimState) -> dict[str, Any]:
    body = await _json(request)
    state.clock_offset += float(body.get("advance_seconds", 0))
    return {"now": state.now(), "offset_seconds": state.clock_offset}


async def webhook_url(request: Request, state: SimState) -> dict[str, Any]:
    body = await _json(request)
    state.webhook_url = body.get("url") or body.get("webhook_url") or None
    state.dispatcher.wake()
    return {"webhook_url": state.webhook_url}


async def verify_webhook(request: Request, state: SimState) -> dict[str, Any]:
    body = await _json(request)
    return await state.dispatcher.verify(str(body.get("verify_token", "")))


async def health(request: Request, state: SimState) -> dict[str, Any]:
    return {"ok": True, "accepted": state.accepted, "webhooks_pending": state.dispatcher.pending}


def control_routes() -> list[Route]:
    return [
        Route("/_sim/messages", control(messages), methods=["GET"]),
        Route("/_sim/inbound", control(inbound), methods=["POST"]),
        Route("/_sim/webhook-errors", control(webhook_errors), methods=["POST"]),
        Route("/_sim/failed-status", control(failed_status), methods=["POST"]),
        Route("/_sim/status", control(status), methods=["POST"]),
        Route("/_sim/user-preferences", control(user_preferences), methods=["POST"]),
        Route("/_sim/template-status", control(account_event(account_events.template_status)), methods=["POST"]),
        Route("/_sim/template-quality", control(account_event(account_events.template_quality)), methods=["POST"]),
        Route("/_sim/template-category", control(account_event(account_events.template_category)), methods=["POST"]),
        Route("/_sim/number-quality", control(account_event(account_events.number_quality)), methods=["POST"]),
        Route("/_sim/account-update", control(account_event(account_events.account_update)), methods=["POST"]),
        Route("/_sim/stats", control(stats), methods=["GET"]),
        Route("/_sim/reset", control(reset), methods=["POST"]),
        Route("/_sim/scenario", control(scenario), methods=["POST"]),
        Route("/_sim/scenario", control(get_scenario), methods=["GET"]),
        Route("/_sim/clock", control(clock), methods=["POST"]),
        Route("/_sim/webhook-url", control(webhook_url), methods=["POST"]),
        Route("/_sim/verify-webhook", control(verify_webhook), methods=["POST"]),
        Route("/_sim/health", control(health), methods=["GET"]),
    ]
