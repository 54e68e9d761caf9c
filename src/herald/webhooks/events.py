"""Turning parsed webhook events into stored rows (dedupe key + JSON payload) and back, and a
stored event as the applier's handlers see it (``StoredEvent``, with ``mark`` and ``defer``)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from herald.kit.types import utcnow
from herald.whatsapp import InboundMessage, StatusEvent, UserPreference, ValueErrors
from herald.whatsapp.events import ErrorInfo

# The kinds of stored events, one handler each (``herald.webhooks.applier``, ``HANDLERS``).
STATUS = "status"
MESSAGE = "message"
PREFERENCE = "preference"
# Account-level fields, applied by ``template_updates`` and ``number_updates`` (rows: ``waba_events``).
TEMPLATE_STATUS = "template_status"
TEMPLATE_QUALITY = "template_quality"
TEMPLATE_CATEGORY = "template_category"
NUMBER_QUALITY = "number_quality"
ACCOUNT_UPDATE = "account_update"
VALUE_ERRORS = "value_errors"
VALUE_ERRORS_BUCKET = 3600  # seconds within which the same errors of a number are one event
DEFER = timedelta(seconds=1)


@dataclass(slots=True)
class StoredEvent:
    """A stored webhook event as handlers see it: plain data, not an ORM object (hot path)."""

    id: int
    kind: str
    payload: dict[str, Any]
    applied_at: datetime | None = None
    outcome: str | None = None
    not_before: datetime | None = None


def mark(event: StoredEvent, outcome: str) -> None:
    """The event is applied, with this outcome."""
    event.applied_at = utcnow()
    event.outcome = outcome


def defer(event: StoredEvent) -> None:
    """The event is tried again in a moment (``DEFER``)."""
    event.not_before = utcnow() + DEFER


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, tuple | list):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    return value


_FIELDS: dict[type, tuple[str, ...]] = {}


def to_payload(event: Any) -> dict[str, Any]:
    """The event as JSON-ready data (a shallow walk: ``dataclasses.asdict`` deep-copies, and this is
    on the webhook hot path)."""
    cls = type(event)
    names = _FIELDS.get(cls)
    if names is None:
        names = _FIELDS[cls] = tuple(f.name for f in dataclasses.fields(event))
    data: dict[str, Any] = {}
    for name in names:
        value = getattr(event, name)
        if isinstance(value, datetime):
            value = value.isoformat()
        elif isinstance(value, tuple):
            value = [_jsonable(_as_dict(v)) for v in value]
        data[name] = value
    return data


def _as_dict(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    return value


def dedupe_key(kind: str, event: Any) -> str:
    """Meta's duplicates (retries, several subscribed apps) collapse on these keys (docs/architecture.md, "Webhooks")."""
    if kind == STATUS:
        return f"s:{event.wamid}:{event.status}"
    if kind == MESSAGE:
        return f"m:{event.wamid}"
    if kind == VALUE_ERRORS:
        # Meta's errors-only change usually carries no time, so the timestamp is when Herald received
        # it: a retry lands seconds or minutes later. The same codes on one number collapse per hour.
        codes = ",".join(str(e.code) for e in event.errors)
        return f"v:{event.phone_number_id}:{codes}:{int(event.timestamp.timestamp()) // VALUE_ERRORS_BUCKET}"
    return f"p:{event.phone_number_id}:{event.wa_id or event.user_id}:{event.value}:{int(event.timestamp.timestamp())}"


def status_from(payload: dict[str, Any]) -> StatusEvent:
    data = dict(payload)
    data["timestamp"] = datetime.fromisoformat(data["timestamp"])
    data["errors"] = tuple(ErrorInfo(**e) for e in data.get("errors") or ())
    return StatusEvent(**data)


def inbound_from(payload: dict[str, Any]) -> InboundMessage:
    data = dict(payload)
    data["timestamp"] = datetime.fromisoformat(data["timestamp"])
    data["errors"] = tuple(ErrorInfo(**e) for e in data.get("errors") or ())
    return InboundMessage(**data)


def preference_from(payload: dict[str, Any]) -> UserPreference:
    data = dict(payload)
    data["timestamp"] = datetime.fromisoformat(data["timestamp"])
    return UserPreference(**data)


def value_errors_from(payload: dict[str, Any]) -> ValueErrors:
    return ValueErrors(
        phone_number_id=payload["phone_number_id"],
        errors=tuple(ErrorInfo(**e) for e in payload.get("errors") or ()),
        timestamp=datetime.fromisoformat(payload["timestamp"]),
    )
