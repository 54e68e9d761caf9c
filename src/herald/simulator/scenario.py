"""The scenario: which numbers, templates and recipients the simulated Meta knows, and how it behaves."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, field_validator

_NON_DIGITS = re.compile(r"\D")


def digits(phone: str) -> str:
    """E.164 (or any formatted number) reduced to its digits, the form Meta uses as `wa_id`."""
    return _NON_DIGITS.sub("", phone)


class PhoneNumber(BaseModel):
    model_config = ConfigDict(extra="allow")

    phone_number_id: str = "1090001"
    waba_id: str = "2090001"
    display_phone_number: str = "+1 555 000 0001"
    verified_name: str = "Herald Simulator"
    # None accepts any non-empty bearer token: handy for demos, strict scenarios set one.
    access_token: str | None = None
    throughput_mps: float | None = 80
    messaging_limit_tier: str = "TIER_UNLIMITED"
    # The business portfolio the number's WABA belongs to; numbers of one portfolio share its messaging
    # limit. None: the WABA id stands for it.
    business_portfolio_id: str | None = None
    quality_rating: str = "GREEN"
    app_secret: str | None = None
    # False: the number's business has not accepted Meta's Marketing Messages API terms, and
    # ``/marketing_messages`` answers with Meta's refusal (simulator/marketing_messages.py).
    marketing_messages_terms_accepted: bool = True

    @field_validator("phone_number_id", "waba_id", mode="before")
    @classmethod
    def _ids_are_strings(cls, value: Any) -> str:
        return str(value)


class StatusDelays(BaseModel):
    """Milliseconds after acceptance at which each event is emitted."""

    sent: float = 20
    delivered: float = 150
    read: float = 400
    reply: float = 800


class Scenario(BaseModel):
    model_config = ConfigDict(extra="allow")

    phone_numbers: list[PhoneNumber] = Field(default_factory=lambda: [PhoneNumber()])
    templates: list[dict[str, Any]] = Field(default_factory=list)
    unreachable: list[str] = Field(default_factory=list)
    marketing_capped: list[str] = Field(default_factory=list)
    stopped: list[str] = Field(default_factory=list)
    # Users who stop marketing messages once a marketing template reaches them: after its `delivered`,
    # a `user_preferences` stop (the WhatsApp "Stop" option on a marketing message); later marketing
    # sends to them fail with 131050. `stop_probability`: the same for any recipient, at random.
    stopping: list[str] = Field(default_factory=list)
    stop_probability: float = Field(default=0.0, ge=0, le=1)
    experiment: list[str] = Field(default_factory=list)
    latency_ms: float = 0
    read_probability: float = 0.6
    reply_probability: float = 0.1
    skip_delivered_probability: float = 0.0
    duplicate_probability: float = 0.0
    out_of_order_probability: float = 0.0
    # Off: no statuses or replies are produced at all (throughput benchmarks that need none).
    webhooks_enabled: bool = True
    webhook_batch_size: int = Field(default=100, ge=1, le=1000)
    webhook_flush_ms: float = Field(default=50, gt=0)
    webhook_concurrency: int = Field(default=2, ge=1, le=32)
    webhook_retry_base_ms: float = 200
    webhook_retry_cap_ms: float = 30_000
    failed_error_form: Literal["new", "old", "mixed"] = "new"
    bsuid_mode: bool = False
    error_rate_5xx: float = 0.0
    timeout_probability: float = 0.0
    timeout_hang_ms: float = 5_000
    # A real timeout leaves the outcome unknown: some hung sends were accepted and get webhooks.
    timeout_accept_probability: float = 0.5
    status_delays_ms: StatusDelays = Field(default_factory=StatusDelays)
    # Template and number webhooks due once this many sends were accepted: the bodies of
    # /_sim/template-status (or -quality, -category) and /_sim/number-quality (or account-update,
    # with "field": "account_update"), each with "after_sends" (simulator/account_events.py).
    template_events: list[dict[str, Any]] = Field(default_factory=list)
    number_events: list[dict[str, Any]] = Field(default_factory=list)
    # What simulated replies are: weights per kind of ``user_messages.KINDS`` (e.g. {"text": 5,
    # "location": 1, "image": 1, "reaction": 1}); "auto" is a quick-reply tap when the template has
    # buttons, else free text. Empty: always "auto".
    reply_kinds: dict[str, float] = Field(default_factory=dict)
    # A free-form message outside the 24 h window: refused at once (the simulator's default, what
    # Herald's own sends expect) or accepted and then reported as a `failed` status, as Meta does.
    reengagement_failure: Literal["sync", "async"] = "sync"
    seed: int | None = None

    @field_validator("reply_kinds")
    @classmethod
    def _known_reply_kinds(cls, value: dict[str, float]) -> dict[str, float]:
        from herald.simulator.user_messages import KINDS  # user_messages needs the state, which needs us

        unknown = sorted(set(value) - set(KINDS) - {"auto"})
        if unknown:
            raise ValueError(f"unknown reply kinds {unknown}; known: auto, {', '.join(KINDS)}")
        if any(weight < 0 for weight in value.values()) or (value and not sum(value.values())):
            raise ValueError("reply kind weights must be non-negative and not all zero")
        return value

    @classmethod
    def from_file(cls, path: str | Path) -> Scenario:
        return cls.model_validate(orjson.loads(Path(path).read_bytes()))

    @classmethod
    def coerce(cls, value: Scenario | dict[str, Any] | str | Path | None) -> Scenario:
        """Accept a Scenario, a dict, a JSON file path, or None (defaults)."""
        if value is None:
            return cls()
        if isinstance(value, Scenario):
            return value
        if isinstance(value, dict):
            return cls.model_validate(value)
        return cls.from_file(value)

    def number(self, phone_number_id: str) -> PhoneNumber | None:
        for number in self.phone_numbers:
            if number.phone_number_id == phone_number_id:
                return number
        return None

    def portfolio_of(self, number: PhoneNumber) -> str:
        return number.business_portfolio_id or number.waba_id

    def portfolio_tiers(self, portfolio: str) -> list[str]:
        return [n.messaging_limit_tier for n in self.phone_numbers if self.portfolio_of(n) == portfolio]

    def waba_ids(self) -> set[str]:
        return {number.waba_id for number in self.phone_numbers}

    def merged(self, changes: dict[str, Any]) -> Scenario:
        """A copy with top-level keys replaced, e.g. to toggle a fault without restating numbers."""
        data = self.model_dump()
        data.update(changes)
        return Scenario.model_validate(data)
