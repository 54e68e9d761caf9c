"""Logging: plain text by default, one JSON object per line with ``HERALD_LOG_JSON=true``.

Fields bound with :func:`bind` (``campaign_id``, ``number_id``, ``message_id``, ``worker_id`` …) ride
along on every line logged inside the block, across awaits and into tasks created there
(``contextvars``). Values passed as ``extra={...}`` of the same names are added too. Bearer tokens
and ``access_token=`` query values are masked in every line, whatever the format.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

import orjson

FIELDS = ("campaign_id", "number_id", "message_id", "worker_id", "event_kind", "to", "from_states")
_bound: ContextVar[dict[str, Any]] = ContextVar("herald_log_fields", default={})  # noqa: B039 - never mutated
_SECRETS = re.compile(r"(?i)(bearer\s+|access_token=|app_secret=|verify_token=)[^\s&\"',]+")
_HANDLER_NAME = "herald"


@contextmanager
def bind(**fields: Any) -> Iterator[None]:
    """Adds fields to every log line within the block (None values are left out)."""
    token = _bound.set({**_bound.get(), **{k: v for k, v in fields.items() if v is not None}})
    try:
        yield
    finally:
        _bound.reset(token)


def bound() -> dict[str, Any]:
    return dict(_bound.get())


def redact(text: str) -> str:
    return _SECRETS.sub(lambda m: m.group(1) + "[redacted]", text)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": redact(record.getMessage()),
        }
        data.update(_bound.get())
        for key in FIELDS:
            value = record.__dict__.get(key)
            if value is not None:
                data[key] = value
        if record.exc_info:
            data["exc"] = redact(self.formatException(record.exc_info))
        return orjson.dumps(data, default=str).decode()


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        fields = {**_bound.get(), **{k: record.__dict__[k] for k in FIELDS if record.__dict__.get(k) is not None}}
        if fields:
            line += " " + " ".join(f"{k}={v}" for k, v in fields.items())
        return redact(line)


def configure(*, level: str = "INFO", json: bool = False, stream: Any = None) -> logging.Handler:
    """Installs Herald's handler on the root logger (replacing one installed before); returns it."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if handler.get_name() == _HANDLER_NAME:
            root.removeHandler(handler)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(JsonFormatter() if json else TextFormatter())
    root.addHandler(handler)
    root.setLevel(level.upper())
    return handler
