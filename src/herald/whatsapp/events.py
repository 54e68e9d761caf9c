"""Typed events parsed from WhatsApp webhooks (docs/architecture.md, "Webhooks"): frozen, flat, one per update."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from herald.whatsapp.errors import reason_for_code

# Forward-only order; `failed` is final and wins over everything (a failure after `read`
# still means the campaign message failed, and a late `delivered` never undoes a failure).
STATUS_RANK: Mapping[str, int] = {"sent": 1, "delivered": 2, "read": 3, "played": 4, "failed": 100}


@dataclass(frozen=True, slots=True)
class ErrorInfo:
    code: int | None
    title: str | None
    message: str | None
    details: str | None
    href: str | None = None

    @property
    def reason(self) -> str:
        """The report text for this error (same table as sync errors)."""
        return reason_for_code(self.code, self.message or self.title)


@dataclass(frozen=True, slots=True)
class StatusEvent:
    phone_number_id: str
    wamid: str
    status: str  # sent | delivered | read | played | failed
    timestamp: datetime
    recipient_id: str | None  # None when Meta sent an empty string (BSUID recipients)
    recipient_user_id: str | None
    biz_opaque_callback_data: str | None
    errors: tuple[ErrorInfo, ...]
    pricing_category: str | None
    pricing_type: str | None = None
    # The rest of the status's ``pricing`` object: whether Meta charges the message, and its model
    # (PMP: per message; CBP: per conversation, before July 2025).
    pricing_billable: bool | None = None
    pricing_model: str | None = None

    @property
    def error_code(self) -> int | None:
        return self.errors[0].code if self.errors else None

    @property
    def failure_reason(self) -> str | None:
        if self.status != "failed":
            return None
        return self.errors[0].reason if self.errors else "WhatsApp reported a failure without a reason"


@dataclass(frozen=True, slots=True)
class InboundMessage:
    phone_number_id: str
    wamid: str
    from_wa_id: str | None
    from_user_id: str | None
    profile_name: str | None
    timestamp: datetime
    type: str
    text: str | None  # text body, or the caption of a media message
    button_payload: str | None
    button_text: str | None
    interactive_id: str | None
    interactive_title: str | None
    context_id: str | None  # the wamid this message replies to
    context_from: str | None
    interactive_type: str | None = None
    errors: tuple[ErrorInfo, ...] = ()  # the message's own, then its ``value``'s (webhooks.py, _inbound)
    raw: dict[str, Any] | None = None  # the message object exactly as Meta sent it (None in events stored before)


@dataclass(frozen=True, slots=True)
class UserPreference:
    phone_number_id: str
    wa_id: str | None
    user_id: str | None
    category: str
    value: Literal["stop", "resume"]
    timestamp: datetime
    detail: str | None = None


@dataclass(frozen=True, slots=True)
class ValueErrors:
    """``errors[]`` of a ``messages`` value that carries neither messages nor statuses: a problem
    Meta reports for the number itself (Cloud API "errors" messages webhook)."""

    phone_number_id: str
    errors: tuple[ErrorInfo, ...]
    timestamp: datetime  # the entry's time, else when Herald received it


@dataclass(frozen=True, slots=True)
class TemplateStatusUpdate:
    waba_id: str
    template_id: str | None
    template_name: str | None
    template_language: str | None
    event: str  # APPROVED, REJECTED, PAUSED, DISABLED, …
    reason: str | None
    timestamp: datetime | None
    # `other_info` (pauses and unpauses: FIRST_PAUSE, SECOND_PAUSE, RATE_LIMITING_PAUSE, UNPAUSE…)
    title: str | None = None
    description: str | None = None
    category: str | None = None  # message_template_category
    value: dict[str, Any] = field(default_factory=dict)  # the change's value as Meta sent it


@dataclass(frozen=True, slots=True)
class TemplateQualityUpdate:
    waba_id: str
    template_id: str | None
    template_name: str | None
    template_language: str | None
    previous_quality_score: str | None
    new_quality_score: str | None
    timestamp: datetime | None
    value: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class NumberQualityUpdate:
    waba_id: str
    display_phone_number: str | None
    event: str  # UPGRADE, DOWNGRADE, FLAGGED, UNFLAGGED, THROUGHPUT_UPGRADE, …
    current_limit: str | None
    old_limit: str | None
    max_daily_conversations_per_business: str | None
    timestamp: datetime | None
    value: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class TemplateCategoryUpdate:
    """`template_category_update`: done (`previous_category` → `new_category`) or announced
    (`correct_category` from `category_update_at` on; `new_category` is then the current one)."""

    waba_id: str
    template_id: str | None
    template_name: str | None
    template_language: str | None
    previous_category: str | None
    new_category: str | None
    correct_category: str | None
    category_update_at: datetime | None
    timestamp: datetime | None
    value: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class AccountUpdate:
    """`account_update`: an event of the WhatsApp Business Account, naming a number when Meta does."""

    waba_id: str
    event: str  # ACCOUNT_VIOLATION, ACCOUNT_RESTRICTION, DISABLED_UPDATE, ACCOUNT_OFFBOARDED, …
    phone_number: str | None
    timestamp: datetime | None
    value: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class ParsedWebhook:
    statuses: list[StatusEvent] = field(default_factory=list)
    messages: list[InboundMessage] = field(default_factory=list)
    user_preferences: list[UserPreference] = field(default_factory=list)
    value_errors: list[ValueErrors] = field(default_factory=list)
    template_status_updates: list[TemplateStatusUpdate] = field(default_factory=list)
    template_quality_updates: list[TemplateQualityUpdate] = field(default_factory=list)
    number_quality_updates: list[NumberQualityUpdate] = field(default_factory=list)
    template_category_updates: list[TemplateCategoryUpdate] = field(default_factory=list)
    account_updates: list[AccountUpdate] = field(default_factory=list)
    ignored: int = 0  # changes of other fields and statuses we do not track


@dataclass(frozen=True, slots=True)
class WebhookRouting:
    phone_number_ids: frozenset[str]
    waba_ids: frozenset[str]

