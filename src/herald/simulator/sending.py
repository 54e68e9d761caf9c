"""`POST /{phone-id}/messages`: Meta's synchronous checks, then the statuses and replies that follow."""

from __future__ import annotations

import re
from typing import Any

from herald.simulator import free_form, user_messages
from herald.simulator import marketing_messages as marketing_messages_api
from herald.simulator.errors import GraphError, status_error
from herald.simulator.inbound import FREE_TEXT_REPLIES, content_for, inbound_update, preference_update
from herald.simulator.limits import NumberLimits
from herald.simulator.scenario import PhoneNumber, digits
from herald.simulator.state import SentMessage, SimState
from herald.simulator.templates import (
    TemplateSpec,
    check_sendable,
    validate_components,
)
from herald.simulator.webhooks import Update

MIN_DIGITS, MAX_DIGITS = 7, 15
# Meta's form of a business-scoped user id: country code, period, up to 128 letters or digits
# (a parent BSUID has ``ENT.`` after the country).
BSUID = re.compile(r"[A-Z]{2}\.(?:ENT\.)?[A-Za-z0-9]{1,128}")


def send_message(state: SimState, number: PhoneNumber, body: dict[str, Any], version: str, *,
                 now: float | None = None, marketing_messages: bool = False) -> dict[str, Any]:
    """Validate and accept one send; returns Meta's success body or raises GraphError. ``now`` is when
    the request arrived (see ``arrival``): the rate limits count it then, and it is the message's time.
    ``marketing_messages``: sent to ``/marketing_messages`` (``marketing_messages.py``)."""
    if now is None:
        now = state.now()
    sharing = marketing_messages_api.check_request(number, body) if marketing_messages else None
    if body.get("messaging_product") != "whatsapp":
        raise GraphError(100, "The parameter messaging_product is required and must be 'whatsapp'.")
    if "status" in body:
        return free_form.mark_read(state, number, body)
    to, wa_id, user_id = _recipient(state, body)
    message = SentMessage(seq=0, wamid="", phone_number_id=number.phone_number_id, to=to, wa_id=wa_id,
                          type=str(body.get("type", "text")), time=0.0, api_version=version,
                          biz_opaque_callback_data=body.get("biz_opaque_callback_data"), user_id=user_id)
    spec = _validate_content(state, number, body, message)
    if marketing_messages:
        marketing_messages_api.check_category(spec.category if spec is not None else None)
        message.endpoint, message.activity_sharing = marketing_messages_api.ENDPOINT, sharing
    # The messaging-limit tier counts business-initiated conversations only: templates outside the window.
    reach = spec is not None and not state.in_service_window(number.phone_number_id, wa_id)
    _take_rate_budget(state, number, wa_id or (user_id or ""), now, marketing_reach=reach)
    message.time = now
    message.seq = len(state.messages)
    message.wamid = state.next_wamid(wa_id)
    state.record(message)
    plan_outcome(state, message, spec)
    # Meta answers a send by user id with ``user_id`` and no ``wa_id``; a send by phone with ``wa_id``.
    contact: dict[str, Any] = {"input": to, "wa_id": wa_id} if wa_id else {"input": to}
    if user_id:
        contact["user_id"] = user_id
    sent = {"messaging_product": "whatsapp", "contacts": [contact],
            "messages": [{"id": message.wamid, "message_status": "accepted"}]}
    return marketing_messages_api.answer(sent) if marketing_messages else sent


def _recipient(state: SimState, body: dict[str, Any]) -> tuple[str, str, str | None]:
    """(input, wa_id, BSUID or None); BSUID sends (`recipient`) answer with an empty wa_id."""
    if body.get("recipient") and not body.get("to"):  # ``to`` wins when both are given, as at Meta
        user_id = str(body["recipient"])
        if not BSUID.fullmatch(user_id):
            raise GraphError(100, f"Invalid parameter 'recipient': '{user_id}' is not a business-scoped user id.")
        return user_id, "", user_id
    to = str(body.get("to") or "")
    wa_id = digits(to)
    if not MIN_DIGITS <= len(wa_id) <= MAX_DIGITS:
        raise GraphError(100, f"Invalid parameter 'to': '{to}' is not a valid phone number.")
    if not state.scenario.bsuid_mode:
        return to, wa_id, None
    return to, wa_id, state.bsuid(wa_id)


def _validate_content(state: SimState, number: PhoneNumber, body: dict[str, Any],
                      message: SentMessage) -> TemplateSpec | None:
    if message.type == "template":
        try:
            return _validate_template(state, number, body.get("template") or {}, message)
        except (AttributeError, TypeError, KeyError, IndexError, ValueError) as exc:
            # A template object, component or parameter that is not the object Meta expects (a try
            # costs nothing here; checking every level's type would, on the hot path).
            raise GraphError(100, "Invalid parameter template: name, language, components and their "
                                  "parameters must be objects in Meta's shape.") from exc
    message.text = free_form.check_message(message.type, body)
    message.content = body.get(message.type)
    wa_id = message.wa_id or state.bsuids.get(message.user_id or "") or message.user_id or ""
    if not state.in_service_window(number.phone_number_id, wa_id) and state.scenario.reengagement_failure == "sync":
        raise GraphError(131047, "Message failed to send because more than 24 hours have passed "
                                 "since the customer last replied to this number.")
    return None


def _validate_template(state: SimState, number: PhoneNumber, template: dict[str, Any],
                       message: SentMessage) -> TemplateSpec:
    name = str(template.get("name") or "")
    language = template.get("language") or {}
    code = str(language.get("code") if isinstance(language, dict) else language or "")
    spec = state.catalog.find(number.waba_id, name, code)
    if spec is None:
        raise GraphError(132001, f"template name ({name}) does not exist in {code}")
    check_sendable(spec)
    sent = validate_components(spec, template.get("components") or [])
    message.template, message.language, message.category = spec.name, spec.language, spec.category
    message.parameters, message.named_parameters = sent.body_parameters, sent.named_parameters
    message.header, message.buttons = sent.header, sent.buttons
    return spec


def _take_rate_budget(state: SimState, number: PhoneNumber, wa_id: str, now: float, *, marketing_reach: bool) -> None:
    limits = state.limits_for(number.phone_number_id)
    if not limits.throughput.allows(now, number.throughput_mps):
        raise GraphError(130429, f"Cloud API message throughput has been reached: "
                                 f"{number.throughput_mps:g} messages per second for this number.")
    if not limits.pair_allows(wa_id, now):
        raise GraphError(131056, "Message failed to send because there were too many messages sent "
                                 "from this phone number to the same phone number in a short period of time.")
    portfolio = state.portfolio_limits_for(number)
    if marketing_reach and not _portfolio_allows(state, number, portfolio, wa_id, now):
        raise GraphError(131048, "Message failed to send because the business portfolio reached its messaging "
                                 "limit: unique users messaged outside a customer service window in 24 hours.")
    limits.throughput.record(now)
    if marketing_reach:
        limits.reach(wa_id, now)
        portfolio.reach(wa_id, now)


def _portfolio_allows(state: SimState, number: PhoneNumber, portfolio: NumberLimits, wa_id: str, now: float) -> bool:
    """Meta's messaging limit: a user already messaged in the last 24 h is free, a new one needs a place."""
    limit = state.portfolio_limit(number)
    if limit is None or portfolio.reached_within_24h(wa_id, now):
        return True
    return portfolio.unique_recipients_24h(now) < limit


def _failure_code(state: SimState, message: SentMessage, spec: TemplateSpec | None) -> int | None:
    wa_id = message.wa_id or state.bsuids.get(message.user_id or "") or ""
    if wa_id in state.unreachable:
        return 131026
    if wa_id in state.experiment:
        return 130472
    marketing = spec is not None and spec.category == "MARKETING"
    if marketing and state.is_stopped(wa_id):
        return 131050
    if marketing and wa_id in state.marketing_capped:
        return 131049
    header = message.header
    if header and header["type"] != "text" and not state.media.usable_for_header(
        header.get("media_id"), header["type"], state.now()
    ):
        return 131053
    if spec is None:
        return _free_form_failure(state, message)
    return None


def _free_form_failure(state: SimState, message: SentMessage) -> int | None:
    """Found after a free-form send was accepted: an unusable media id (131053), and, when the
    scenario says Meta reports it asynchronously, the closed customer-service window (131047)."""
    if message.content is not None and not state.media.usable_for_header(
        free_form.media_id_of(message.type, {message.type: message.content}), message.type, state.now()
    ):
        return 131053
    wa_id = message.wa_id or state.bsuids.get(message.user_id or "") or ""
    if not state.in_service_window(message.phone_number_id, wa_id):
        return 131047
    return None


def plan_outcome(state: SimState, message: SentMessage, spec: TemplateSpec | None) -> None:
    """Schedule what Meta would report for this message: failed, or sent/delivered/read and a reply."""
    scenario, rng = state.scenario, state.rng
    if not scenario.webhooks_enabled:
        return
    delays = scenario.status_delays_ms
    failure = _failure_code(state, message, spec)
    if failure is not None:
        schedule_status(state, message, "failed", delays.sent, error_code=failure)
        return
    if message.type == "reaction":  # Meta: a reaction gets `sent` only, never delivered or read
        schedule_status(state, message, "sent", delays.sent, pricing=True)
        return
    replies = rng.random() < scenario.reply_probability
    reads = replies or rng.random() < scenario.read_probability
    skip_delivered = reads and rng.random() < scenario.skip_delivered_probability
    swapped = reads and not skip_delivered and rng.random() < scenario.out_of_order_probability
    schedule_status(state, message, "sent", delays.sent, pricing=True)
    if not skip_delivered:
        at = delays.read if swapped else delays.delivered
        schedule_status(state, message, "delivered", at, pricing=True)
    if reads:
        at = delays.delivered if swapped else delays.read
        schedule_status(state, message, "read", at, pricing=skip_delivered)
    if replies:
        _schedule_reply(state, message, spec, max(delays.reply, delays.read))
    _maybe_stop(state, message, spec, delays.delivered)


def _maybe_stop(state: SimState, message: SentMessage, spec: TemplateSpec | None, delivered_ms: float) -> None:
    """A recipient of a marketing template who stops marketing messages (scenario ``stopping``,
    ``stop_probability``): Meta's ``user_preferences`` stop, just after the message was delivered."""
    if spec is None or spec.category != "MARKETING" or not message.wa_id:
        return
    wa_id = message.wa_id
    if wa_id not in state.stopping and not (state.scenario.stop_probability
                                            and state.rng.random() < state.scenario.stop_probability):
        return
    state.dispatcher.schedule(delivered_ms / 1000 + 0.05,
                              preference_update(state, message.phone_number_id, wa_id, "stop"))


def schedule_status(state: SimState, message: SentMessage, status: str, delay_ms: float, *,
                     pricing: bool = False, error_code: int | None = None) -> None:
    scenario = state.scenario
    item: dict[str, Any] = {"id": message.wamid, "status": status, "timestamp": "",
                            "recipient_id": message.wa_id}
    # Meta names the user's BSUID on sent, delivered and read statuses, and on a failure only of a
    # message sent by user id.
    if message.user_id and (error_code is None or not message.wa_id):
        item["recipient_user_id"] = message.user_id
    if message.biz_opaque_callback_data is not None:
        item["biz_opaque_callback_data"] = message.biz_opaque_callback_data
    contact = None
    if error_code is not None:
        form = scenario.failed_error_form
        if form == "mixed":
            form = state.rng.choice(("new", "old"))
        item["errors"] = [status_error(error_code, form)]
    else:
        if pricing:
            _add_pricing(item, message, status, free_window=_utility_in_window(state, message))
        if message.user_id:
            contact = {"wa_id": message.wa_id, "user_id": message.user_id}

    def recorded(_now: float) -> None:
        message.statuses.append(status)

    duplicate = state.rng.random() < scenario.duplicate_probability
    update = Update(message.phone_number_id, "messages", "statuses", item, contact,
                    stamp=True, duplicate=duplicate, on_emit=recorded)
    state.dispatcher.schedule(delay_ms / 1000, update)


def _utility_in_window(state: SimState, message: SentMessage) -> bool:
    """Meta charges no utility template delivered inside an open customer service window."""
    return (message.type == "template" and (message.category or "").upper() == "UTILITY"
            and state.in_service_window(message.phone_number_id, message.wa_id))


def _add_pricing(item: dict[str, Any], message: SentMessage, status: str, *, free_window: bool = False) -> None:
    """Meta's ``pricing`` object (per-message pricing): a template is billable at its category, except a
    utility template inside the customer service window; a free-form message is free service."""
    free = message.type != "template" or free_window
    category = "service" if message.type != "template" else (message.category or "MARKETING").lower()
    if message.endpoint == marketing_messages_api.ENDPOINT:
        category = marketing_messages_api.PRICING_CATEGORY
    item["pricing"] = {"billable": not free, "pricing_model": "PMP",
                       "type": "free_customer_service" if free else "regular", "category": category}
    if _version_number(message.api_version) < 24:
        conversation: dict[str, Any] = {"id": f"conv{message.wamid[-16:]}", "origin": {"type": category}}
        if status == "sent":
            conversation["expiration_timestamp"] = str(int(message.time) + 86_400)
        item["conversation"] = conversation


def _version_number(version: str) -> float:
    try:
        return float(version.lstrip("v"))
    except ValueError:
        return 99.0


def _schedule_reply(state: SimState, message: SentMessage, spec: TemplateSpec | None, delay_ms: float) -> None:
    rng = state.rng
    kinds = state.scenario.reply_kinds
    kind = rng.choices(list(kinds), weights=list(kinds.values()))[0] if kinds else "auto"
    wa_id = message.wa_id or state.bsuids.get(message.user_id or "") or ""
    context_id: str | None = message.wamid
    if kind != "auto":
        content = user_messages.build(state, user_messages.scenario_reply_fields(kind, wa_id, message.wamid))
        if kind in user_messages.WITHOUT_CONTEXT:
            context_id = None
    elif spec is not None and spec.quick_replies:
        index = rng.randrange(len(spec.quick_replies))
        label = spec.quick_replies[index]
        payload = next((b["payload"] for b in message.buttons
                        if b["sub_type"] == "quick_reply" and b["index"] == str(index) and b["payload"]), label)
        content = content_for(button_payload=payload, button_text=label)
    else:
        content = content_for(text=rng.choice(FREE_TEXT_REPLIES))
        context_id = None
    # A user the simulator knows only by the user id a business sent to answers under that id, phone hidden.
    unknown = message.user_id if not wa_id else None
    _, update = inbound_update(state, message.phone_number_id, wa_id, content, context_id=context_id, user_id=unknown,
                               system=kind in user_messages.SYSTEM_KINDS,
                               with_contacts=kind not in user_messages.WITHOUT_CONTACTS)
    state.dispatcher.schedule(delay_ms / 1000, update)
