"""Webhook signature checks and parsing of Meta's webhook payloads into flat, typed events.

Shapes follow docs/architecture.md, "Webhooks": batched entries/changes, string or int timestamps, statuses with
or without `contacts`, old and new error forms, BSUID users with empty `wa_id`/`from`. Unknown
fields are ignored; a payload whose structure is wrong raises `WebhookPayloadError`.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import orjson

from herald.whatsapp.events import (
    STATUS_RANK,
    AccountUpdate,
    ErrorInfo,
    InboundMessage,
    NumberQualityUpdate,
    ParsedWebhook,
    StatusEvent,
    TemplateCategoryUpdate,
    TemplateQualityUpdate,
    TemplateStatusUpdate,
    UserPreference,
    ValueErrors,
    WebhookRouting,
)

PREFERENCE_VALUES = frozenset({"stop", "resume"})


class WebhookPayloadError(ValueError):
    """The POST body is not a WhatsApp webhook we can read; `path` says where it went wrong."""

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"{path}: {problem}" if path else problem)
        self.path = path
        self.problem = problem


def signature_header(raw: bytes, app_secret: str) -> str:
    """The `X-Hub-Signature-256` value Meta sends for this body."""
    return "sha256=" + hmac.new(app_secret.encode(), raw, hashlib.sha256).hexdigest()


def verify_signature(raw: bytes, header: str | None, app_secret: str) -> bool:
    """True when `header` is `sha256=<hex HMAC-SHA256(raw, app_secret)>`; constant-time."""
    if not header or not app_secret:
        return False
    scheme, _, received = header.strip().partition("=")
    if scheme.lower() != "sha256" or not received:
        return False
    expected = hmac.new(app_secret.encode(), raw, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode(), received.lower().encode("utf-8", "replace"))


def decode_webhook(raw: bytes) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise WebhookPayloadError("", f"body is not valid JSON ({exc})") from None


def routing_ids(document: bytes | Mapping[str, Any]) -> WebhookRouting:
    """Numbers and WABAs a POST names, read before the signature is checked to pick the app secret.

    Deliberately lenient: it only chooses which secret to verify with; nothing is trusted yet.
    """
    doc = decode_webhook(document) if isinstance(document, bytes | bytearray) else document
    numbers: set[str] = set()
    wabas: set[str] = set()
    for entry in _list_or_empty(doc.get("entry") if isinstance(doc, Mapping) else None):
        if not isinstance(entry, Mapping):
            continue
        if entry.get("id") is not None:
            wabas.add(str(entry["id"]))
        for change in _list_or_empty(entry.get("changes")):
            value = change.get("value") if isinstance(change, Mapping) else None
            metadata = value.get("metadata") if isinstance(value, Mapping) else None
            number = metadata.get("phone_number_id") if isinstance(metadata, Mapping) else None
            if number is not None:
                numbers.add(str(number))
    return WebhookRouting(frozenset(numbers), frozenset(wabas))


def phone_number_ids(document: bytes | Mapping[str, Any]) -> frozenset[str]:
    return routing_ids(document).phone_number_ids


def parse_webhook(raw: bytes) -> ParsedWebhook:
    """Parse a verified POST body."""
    return parse_webhook_document(decode_webhook(raw))


def parse_webhook_document(document: Any) -> ParsedWebhook:
    """Parse an already decoded body (lets the receiver decode once for routing and parsing)."""
    if not isinstance(document, Mapping):
        raise WebhookPayloadError("", "body is not a JSON object")
    obj = document.get("object")
    if obj is not None and obj != "whatsapp_business_account":
        raise WebhookPayloadError("object", f"expected whatsapp_business_account, got {obj!r}")
    parsed = ParsedWebhook()
    for e, entry in enumerate(_require_list(document, "entry", "")):
        where = f"entry[{e}]"
        if not isinstance(entry, Mapping):
            raise WebhookPayloadError(where, "not an object")
        entry_time = _optional_timestamp(entry.get("time"), f"{where}.time")
        waba_id = str(entry.get("id") or "")
        for c, change in enumerate(_require_list(entry, "changes", where)):
            _parse_change(change, waba_id, entry_time, f"{where}.changes[{c}]", parsed)
    return parsed


def _parse_change(
    change: Any, waba_id: str, entry_time: datetime | None, where: str, parsed: ParsedWebhook
) -> None:
    if not isinstance(change, Mapping):
        raise WebhookPayloadError(where, "not an object")
    value = change.get("value")
    if not isinstance(value, Mapping):
        raise WebhookPayloadError(f"{where}.value", "missing or not an object")
    kind = change.get("field")
    where = f"{where}.value"
    if kind in ("messages", "user_preferences"):
        _parse_messaging_value(value, where, parsed, entry_time)
    elif kind == "message_template_status_update":
        parsed.template_status_updates.append(_template_status(value, waba_id, entry_time, where))
    elif kind == "message_template_quality_update":
        parsed.template_quality_updates.append(_template_quality(value, waba_id, entry_time))
    elif kind == "phone_number_quality_update":
        parsed.number_quality_updates.append(_number_quality(value, waba_id, entry_time, where))
    elif kind == "template_category_update":
        parsed.template_category_updates.append(_template_category(value, waba_id, entry_time, where))
    elif kind == "account_update":
        parsed.account_updates.append(_account_update(value, waba_id, entry_time, where))
    else:
        parsed.ignored += 1


def _parse_messaging_value(
    value: Mapping[str, Any], where: str, parsed: ParsedWebhook, entry_time: datetime | None = None
) -> None:
    metadata = value.get("metadata")
    number = metadata.get("phone_number_id") if isinstance(metadata, Mapping) else None
    if number is None or number == "":
        raise WebhookPayloadError(f"{where}.metadata.phone_number_id", "missing")
    phone_number_id = str(number)
    value_errors = _errors(value.get("errors"), f"{where}.errors")
    if value_errors and not value.get("messages") and not value.get("statuses"):
        parsed.value_errors.append(ValueErrors(phone_number_id, value_errors, entry_time or datetime.now(UTC)))
    for i, item in enumerate(_optional_list(value, "statuses", where)):
        status = _status(item, phone_number_id, f"{where}.statuses[{i}]")
        if status is None:
            parsed.ignored += 1
        else:
            parsed.statuses.append(status)
    contacts = _optional_list(value, "contacts", where)
    for i, item in enumerate(_optional_list(value, "messages", where)):
        parsed.messages.append(_inbound(item, phone_number_id, contacts, f"{where}.messages[{i}]", value_errors))
    for i, item in enumerate(_optional_list(value, "user_preferences", where)):
        preference = _preference(item, phone_number_id, f"{where}.user_preferences[{i}]")
        if preference is None:
            parsed.ignored += 1
        else:
            parsed.user_preferences.append(preference)


def _status(item: Any, phone_number_id: str, where: str) -> StatusEvent | None:
    item = _require_object(item, where)
    status = _require_str(item, "status", where)
    if status not in STATUS_RANK:
        return None  # docs/architecture.md, "Webhooks": ignore statuses other than the five we track
    pricing = item.get("pricing")
    pricing = pricing if isinstance(pricing, Mapping) else {}
    return StatusEvent(
        phone_number_id=phone_number_id,
        wamid=_require_str(item, "id", where),
        status=status,
        timestamp=_timestamp(item.get("timestamp"), f"{where}.timestamp"),
        recipient_id=_opt_id(item.get("recipient_id")),
        recipient_user_id=_opt_id(item.get("recipient_user_id")),
        biz_opaque_callback_data=_opt_str(item.get("biz_opaque_callback_data")),
        errors=_errors(item.get("errors"), f"{where}.errors"),
        pricing_category=_opt_str(pricing.get("category")),
        pricing_type=_opt_str(pricing.get("type")),
        pricing_billable=billable if isinstance(billable := pricing.get("billable"), bool) else None,
        pricing_model=_opt_str(pricing.get("pricing_model")),
    )


def _inbound(
    item: Any, phone_number_id: str, contacts: list[Any], where: str, value_errors: tuple[ErrorInfo, ...] = ()
) -> InboundMessage:
    """The fields Herald reads, plus the whole object as Meta sent it (``raw``). Errors of the
    ``value`` that carries the message concern it too (e.g. an interactive reply Meta could not read)."""
    item = _require_object(item, where)
    from_wa_id = _opt_id(item.get("from"))
    from_user_id = _opt_id(item.get("from_user_id"))
    kind = _opt_str(item.get("type")) or "unknown"
    body = _sub(item, kind)
    context = _sub(item, "context")
    button = _sub(item, "button")
    interactive = _sub(item, "interactive")
    interactive_type = _opt_str(interactive.get("type"))
    choice = _sub(interactive, interactive_type) if interactive_type else {}
    return InboundMessage(
        phone_number_id=phone_number_id,
        wamid=_require_str(item, "id", where),
        from_wa_id=from_wa_id,
        from_user_id=from_user_id,
        profile_name=_profile_name(contacts, from_wa_id, from_user_id),
        timestamp=_timestamp(item.get("timestamp"), f"{where}.timestamp"),
        type=kind,
        text=_opt_str(body.get("body")) if kind == "text" else _opt_str(body.get("caption")),
        button_payload=_opt_str(button.get("payload")),
        button_text=_opt_str(button.get("text")),
        interactive_id=_opt_str(choice.get("id")),
        interactive_title=_opt_str(choice.get("title")),
        context_id=_opt_str(context.get("id")),
        context_from=_opt_str(context.get("from")),
        interactive_type=interactive_type,
        errors=_errors(item.get("errors"), f"{where}.errors") + value_errors,
        raw=dict(item),
    )


def _profile_name(contacts: list[Any], wa_id: str | None, user_id: str | None) -> str | None:
    """The sender's profile name, matching the contact on either identifier (BSUID users)."""
    candidates = [c for c in contacts if isinstance(c, Mapping)]
    for contact in candidates:
        if (wa_id and contact.get("wa_id") == wa_id) or (user_id and contact.get("user_id") == user_id):
            return _opt_str(_sub(contact, "profile").get("name"))
    if len(candidates) == 1:
        return _opt_str(_sub(candidates[0], "profile").get("name"))
    return None


def _preference(item: Any, phone_number_id: str, where: str) -> UserPreference | None:
    item = _require_object(item, where)
    value = _require_str(item, "value", where)
    if value not in PREFERENCE_VALUES:
        return None
    return UserPreference(
        phone_number_id=phone_number_id,
        wa_id=_opt_id(item.get("wa_id")),
        user_id=_opt_id(item.get("user_id")),
        category=_opt_str(item.get("category")) or "marketing_messages",
        value="stop" if value == "stop" else "resume",
        timestamp=_timestamp(item.get("timestamp"), f"{where}.timestamp"),
        detail=_opt_str(item.get("detail")),
    )


def _template_status(
    value: Mapping[str, Any], waba_id: str, entry_time: datetime | None, where: str
) -> TemplateStatusUpdate:
    return TemplateStatusUpdate(
        waba_id=waba_id,
        template_id=_opt_id(value.get("message_template_id")),
        template_name=_opt_str(value.get("message_template_name")),
        template_language=_opt_str(value.get("message_template_language")),
        event=_require_str(value, "event", where),
        reason=_opt_str(value.get("reason")),
        timestamp=entry_time,
        title=_opt_str(_sub(value, "other_info").get("title")),
        description=_opt_str(_sub(value, "other_info").get("description")),
        category=_opt_str(value.get("message_template_category")),
        value=dict(value),
    )


def _template_quality(
    value: Mapping[str, Any], waba_id: str, entry_time: datetime | None
) -> TemplateQualityUpdate:
    return TemplateQualityUpdate(
        waba_id=waba_id,
        template_id=_opt_id(value.get("message_template_id")),
        template_name=_opt_str(value.get("message_template_name")),
        template_language=_opt_str(value.get("message_template_language")),
        previous_quality_score=_opt_str(value.get("previous_quality_score")),
        new_quality_score=_opt_str(value.get("new_quality_score")),
        timestamp=entry_time,
        value=dict(value),
    )


def _number_quality(
    value: Mapping[str, Any], waba_id: str, entry_time: datetime | None, where: str
) -> NumberQualityUpdate:
    return NumberQualityUpdate(
        waba_id=waba_id,
        display_phone_number=_opt_id(value.get("display_phone_number")),
        event=_require_str(value, "event", where),
        current_limit=_opt_str(value.get("current_limit")),
        old_limit=_opt_str(value.get("old_limit")),
        max_daily_conversations_per_business=_opt_id(value.get("max_daily_conversations_per_business")),
        timestamp=entry_time,
        value=dict(value),
    )


def _template_category(
    value: Mapping[str, Any], waba_id: str, entry_time: datetime | None, where: str
) -> TemplateCategoryUpdate:
    """Both shapes of Meta's reference: a change done (previous → new) or announced (correct, at)."""
    if not value.get("new_category") and not value.get("correct_category"):
        raise WebhookPayloadError(f"{where}.new_category", "missing or not a string")
    return TemplateCategoryUpdate(
        waba_id=waba_id,
        template_id=_opt_id(value.get("message_template_id")),
        template_name=_opt_str(value.get("message_template_name")),
        template_language=_opt_str(value.get("message_template_language")),
        previous_category=_opt_str(value.get("previous_category")),
        new_category=_opt_str(value.get("new_category")),
        correct_category=_opt_str(value.get("correct_category")),
        category_update_at=_optional_timestamp(value.get("category_update_timestamp"), f"{where}.category_update_timestamp"),
        timestamp=entry_time,
        value=dict(value),
    )


def _account_update(value: Mapping[str, Any], waba_id: str, entry_time: datetime | None, where: str) -> AccountUpdate:
    return AccountUpdate(
        waba_id=waba_id,
        event=_require_str(value, "event", where),
        phone_number=_opt_id(value.get("phone_number")),
        timestamp=entry_time,
        value=dict(value),
    )


def _errors(items: Any, where: str) -> tuple[ErrorInfo, ...]:
    """Errors in the old `{code, title}` form or the new one with message/error_data/href."""
    if items is None:
        return ()
    if not isinstance(items, list):
        raise WebhookPayloadError(where, "not a list")
    errors = []
    for item in items:
        if not isinstance(item, Mapping):
            continue
        error_data = _sub(item, "error_data")
        errors.append(
            ErrorInfo(
                code=_opt_int(item.get("code")),
                title=_opt_str(item.get("title")),
                message=_opt_str(item.get("message")),
                details=_opt_str(error_data.get("details")),
                href=_opt_str(item.get("href")),
            )
        )
    return tuple(errors)


def _timestamp(value: Any, where: str) -> datetime:
    """Unix seconds as a string (Meta) or an int (some sources), always UTC."""
    if isinstance(value, bool):
        raise WebhookPayloadError(where, f"not a Unix timestamp: {value!r}")
    if isinstance(value, int | float):
        seconds = value
    elif isinstance(value, str) and value.strip().isdecimal():
        seconds = int(value)
    else:
        raise WebhookPayloadError(where, f"missing or not a Unix timestamp: {value!r}")
    try:
        return datetime.fromtimestamp(seconds, tz=UTC)
    except (OverflowError, OSError, ValueError):
        raise WebhookPayloadError(where, f"timestamp out of range: {value!r}") from None


def _optional_timestamp(value: Any, where: str) -> datetime | None:
    return None if value is None else _timestamp(value, where)


def _require_list(container: Mapping[str, Any], key: str, where: str) -> list[Any]:
    value = container.get(key)
    if not isinstance(value, list):
        raise WebhookPayloadError(f"{where}.{key}" if where else key, "missing or not a list")
    return value


def _optional_list(container: Mapping[str, Any], key: str, where: str) -> list[Any]:
    value = container.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise WebhookPayloadError(f"{where}.{key}", "not a list")
    return value


def _list_or_empty(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _require_object(item: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(item, Mapping):
        raise WebhookPayloadError(where, "not an object")
    return item


def _require_str(container: Mapping[str, Any], key: str, where: str) -> str:
    value = container.get(key)
    if not isinstance(value, str) or not value:
        raise WebhookPayloadError(f"{where}.{key}", "missing or not a string")
    return value


def _sub(container: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = container.get(key)
    return value if isinstance(value, Mapping) else {}


def _opt_str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _opt_id(value: Any) -> str | None:
    """Identifiers may be numbers in some sources; empty strings (BSUID users) mean absent."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return str(value)
    return value if isinstance(value, str) and value else None


def _opt_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdecimal():
        return int(value)
    return None
