from __future__ import annotations

import re
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator

from herald.whatsapp.client import DEFAULT_GRAPH_API_BASE, DEFAULT_GRAPH_API_VERSION

# Ids end up in Graph URL paths, so nothing that could change the path or add a query.
GRAPH_ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
_VERSION = re.compile(r"^v\d{1,2}\.\d$")
MAX_GRAPH_API_BASE_LENGTH = 300  # the column's size
# Meta's customizable time to live for marketing templates: 12 hours to 30 days, in seconds
# (docs/whatsapp.md, "Marketing Messages API", has the source).
MARKETING_TTL_MIN_SECONDS = 43_200
MARKETING_TTL_MAX_SECONDS = 2_592_000
MM_API_HELP = (
    "send MARKETING templates through Meta's Marketing Messages API for WhatsApp (POST /{phone_number_id}/"
    "marketing_messages) instead of /messages; utility and authentication templates keep /messages"
)
MM_TTL_HELP = (
    "how long a marketing message is worth delivering, 43200 (12 hours) to 2592000 (30 days) seconds; Herald never "
    "retries a marketing message past it. null: Meta's default (30 days)"
)
MM_SHARING_HELP = "message_activity_sharing sent with each marketing message; null: not sent (Meta's default)"
PORTFOLIO_HELP = (
    "the Meta business portfolio the number's WABA belongs to: numbers with the same one share its messaging "
    "limit; without it, the numbers of one WABA do"
)


def normalize_graph_api_base(value: str) -> str:
    """Scheme + host (+ port) only: Herald appends `/{version}/...` itself."""
    parts = urlsplit(value.strip())
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an http(s) URL such as https://graph.facebook.com")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError("must be scheme and host (and port) only, without a path: Herald appends the version")
    if parts.username or parts.password:
        raise ValueError("must not carry credentials")
    try:
        port = parts.port
    except ValueError as exc:
        raise ValueError("has an invalid port") from exc
    host = parts.hostname.lower()
    try:
        host.encode("idna")  # as the resolver will: a label over 63 characters fails there, as a 500
    except UnicodeError as exc:
        raise ValueError("has an invalid host name") from exc
    host = f"[{host}]" if ":" in host else host
    return f"{parts.scheme.lower()}://{host}" + (f":{port}" if port else "")


def check_graph_api_version(value: str) -> str:
    if not _VERSION.match(value):
        raise ValueError("must look like v23.0")
    return value


class WhatsAppNumberCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    display_phone_number: str = Field(min_length=1, max_length=32)
    phone_number_id: str = Field(pattern=GRAPH_ID_PATTERN)
    waba_id: str = Field(pattern=GRAPH_ID_PATTERN)
    access_token: str = Field(min_length=1, max_length=1000)
    app_secret: str = Field(min_length=1, max_length=500)
    verify_token: str = Field(min_length=1, max_length=500)
    graph_api_base: str = Field(default=DEFAULT_GRAPH_API_BASE, max_length=MAX_GRAPH_API_BASE_LENGTH)
    graph_api_version: str = DEFAULT_GRAPH_API_VERSION
    business_portfolio_id: str | None = Field(default=None, pattern=GRAPH_ID_PATTERN, description=PORTFOLIO_HELP)
    marketing_messages_api: bool = Field(default=False, description=MM_API_HELP)
    marketing_messages_ttl_seconds: int | None = Field(
        default=None, ge=MARKETING_TTL_MIN_SECONDS, le=MARKETING_TTL_MAX_SECONDS, description=MM_TTL_HELP
    )
    marketing_messages_activity_sharing: bool | None = Field(default=None, description=MM_SHARING_HELP)

    @field_validator("graph_api_base")
    @classmethod
    def valid_base(cls, value: str) -> str:
        return normalize_graph_api_base(value)

    @field_validator("graph_api_version")
    @classmethod
    def valid_version(cls, value: str) -> str:
        return check_graph_api_version(value)


class WhatsAppNumberUpdate(BaseModel):
    """Every field optional; a secret left out (or null) keeps the stored one. The Marketing Messages API's
    time to live and activity sharing are cleared by an explicit null (``CLEARABLE``)."""

    model_config = ConfigDict(extra="forbid")

    display_phone_number: str | None = Field(default=None, min_length=1, max_length=32)
    phone_number_id: str | None = Field(default=None, pattern=GRAPH_ID_PATTERN)
    waba_id: str | None = Field(default=None, pattern=GRAPH_ID_PATTERN)
    access_token: str | None = Field(default=None, min_length=1, max_length=1000)
    app_secret: str | None = Field(default=None, min_length=1, max_length=500)
    verify_token: str | None = Field(default=None, min_length=1, max_length=500)
    graph_api_base: str | None = Field(default=None, max_length=MAX_GRAPH_API_BASE_LENGTH)
    graph_api_version: str | None = None
    business_portfolio_id: str | None = Field(default=None, pattern=GRAPH_ID_PATTERN, description=PORTFOLIO_HELP)
    marketing_messages_api: bool | None = Field(default=None, description=MM_API_HELP)
    marketing_messages_ttl_seconds: int | None = Field(
        default=None, ge=MARKETING_TTL_MIN_SECONDS, le=MARKETING_TTL_MAX_SECONDS, description=MM_TTL_HELP
    )
    marketing_messages_activity_sharing: bool | None = Field(default=None, description=MM_SHARING_HELP)

    @field_validator("graph_api_base")
    @classmethod
    def valid_base(cls, value: str | None) -> str | None:
        return None if value is None else normalize_graph_api_base(value)

    @field_validator("graph_api_version")
    @classmethod
    def valid_version(cls, value: str | None) -> str | None:
        return None if value is None else check_graph_api_version(value)


# Settings a PATCH clears with an explicit null (for the others, null means "keep").
CLEARABLE = ("marketing_messages_ttl_seconds", "marketing_messages_activity_sharing")


class WhatsAppNumberOut(BaseModel):
    """A number as the API shows it: secrets are never returned, only whether they are set."""

    id: int
    display_phone_number: str
    phone_number_id: str
    waba_id: str
    graph_api_base: str
    graph_api_version: str
    throughput_mps: int
    messaging_limit_tier: str | None
    business_portfolio_id: str | None = None
    marketing_messages_api: bool = False
    marketing_messages_ttl_seconds: int | None = None
    marketing_messages_activity_sharing: bool | None = None
    quality_rating: str | None
    info_synced_at: datetime | None
    created_at: datetime
    has_access_token: bool
    has_app_secret: bool
    has_verify_token: bool
    info_error: str | None = Field(
        default=None, description="Why throughput/tier/quality could not be read just now (create and refresh only)."
    )


class NumberEventOut(BaseModel):
    """One thing Meta said about the number or its account (a webhook), newest first."""

    id: int
    field: str
    event: str
    messaging_limit_tier: str | None
    quality_rating: str | None
    reason: str | None
    detail: dict[str, Any]
    occurred_at: datetime
    recorded_at: datetime
