"""Campaign API shapes. Shape checks live here; checks that need the database (does the template
exist, is every placeholder bound) live in ``bindings.py``."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from herald.campaigns import experiment, marketing_retry, send_window
from herald.campaigns.lifecycle import Status
from herald.contacts.rules import VALUED_TAG_KEY_RULE
from herald.models.campaign import DEFAULT_RATE_PER_SECOND
from herald.pricing.forecast import CostForecast
from herald.quality.breaker import BreakerSettings, settings_of
from herald.reports.schemas import CampaignProgressOut

Kind = Literal["real", "test"]
MAX_NAME_LENGTH = 200
MAX_AUTO_END_HOURS = 24 * 30
MAX_TEST_PHONES = 50
# A campaign's pace: at least 0.01 message a second (36 an hour) or 1 an hour, at most the number's
# throughput (checked against the number in ``service``; Meta's highest tier is 1,000 a second).
MIN_RATE_PER_SECOND = 0.01
MAX_RATE_PER_SECOND = 1000
MAX_RATE_PER_HOUR = MAX_RATE_PER_SECOND * 3600
MAX_BUDGET = 1_000_000_000


def _within(low: float, high: float, unit: str) -> AfterValidator:
    """A pace bound whose message gives the whole range (pydantic's names only the side crossed)."""

    def check(value: float) -> float:
        if not low <= value <= high:
            raise ValueError(f"must be between {low:g} and {high:g} {unit}, and at most the number's throughput")
        return value

    return AfterValidator(check)


def _time_of_day(value: str | None) -> str | None:
    if value is not None:
        send_window.parse_time(value)
    return value


TimeOfDay = Annotated[str | None, AfterValidator(_time_of_day),
                      Field(json_schema_extra={"pattern": send_window.TIME_OF_DAY.pattern, "example": "10:00"})]
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]

RatePerSecond = Annotated[
    float, _within(MIN_RATE_PER_SECOND, MAX_RATE_PER_SECOND, "messages/second"),
    Field(json_schema_extra={"minimum": MIN_RATE_PER_SECOND, "maximum": MAX_RATE_PER_SECOND}),
]
RatePerHour = Annotated[
    int, _within(1, MAX_RATE_PER_HOUR, "messages/hour"),
    Field(json_schema_extra={"minimum": 1, "maximum": MAX_RATE_PER_HOUR}),
]


class ValuedTagClause(BaseModel):
    model_config = ConfigDict(extra="forbid")

    key: str = Field(min_length=1, max_length=100, description=f"A valued tag key: {VALUED_TAG_KEY_RULE}.")
    value: str | None = Field(default=None, max_length=500)


class Audience(BaseModel):
    """A segment: the clauses given are ANDed; a contact without tags never matches."""

    model_config = ConfigDict(extra="forbid")

    tags_any: list[str] = Field(default_factory=list, max_length=100)
    tags_all: list[str] = Field(default_factory=list, max_length=100)
    valued_tags: list[ValuedTagClause] = Field(default_factory=list, max_length=100)

    @field_validator("tags_any", "tags_all")
    @classmethod
    def non_empty_tags(cls, tags: list[str]) -> list[str]:
        cleaned = [t.strip() for t in tags]
        if any(not t or len(t) > 100 for t in cleaned):
            raise ValueError("tags must be 1 to 100 characters")
        return list(dict.fromkeys(cleaned))

    def stored(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True)


class VariableBinding(BaseModel):
    """Where a placeholder's value comes from: free text, the contact's name, or one of its valued tags."""

    model_config = ConfigDict(extra="forbid")

    source: Literal["text", "contact_name", "valued_tag"]
    value: str | None = Field(default=None, max_length=1024)
    fallback: str | None = Field(default=None, max_length=1024)
    key: str | None = Field(default=None, max_length=100, description=f"A valued tag key: {VALUED_TAG_KEY_RULE}.")

    @model_validator(mode="after")
    def complete_for_its_source(self) -> VariableBinding:
        if self.source == "text" and not (self.value or "").strip():
            raise ValueError("a text variable needs a non-empty value")
        if self.source == "valued_tag" and not (self.key or "").strip():
            raise ValueError("a valued_tag variable needs the key of the valued tag")
        return self

    def stored(self) -> dict[str, Any]:
        fields = {"text": ("value",), "contact_name": ("fallback",), "valued_tag": ("key",)}[self.source]
        stored: dict[str, Any] = {"source": self.source}
        stored.update({f: getattr(self, f) for f in fields if getattr(self, f) is not None})
        return stored


# A positional placeholder's name, as in {{1}}: ASCII digits without a leading zero ("²" and "١" are
# digits to str.isdigit, but not names Meta gives, nor numbers to int()).
POSITIONAL = re.compile(r"[1-9][0-9]{0,3}")
MAX_VARIABLES = 100


def positional_keys(variables: dict[str, VariableBinding]) -> dict[str, VariableBinding]:
    for key in variables:
        if not POSITIONAL.fullmatch(key):
            shown = key if len(key) <= 20 else key[:20] + "…"
            raise ValueError(f"'{shown}' is not a positional placeholder: use '1', '2', …")
    return variables


Variables = Annotated[dict[str, VariableBinding], Field(max_length=MAX_VARIABLES), AfterValidator(positional_keys)]


class TemplateRef(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=512)
    language: str = Field(min_length=1, max_length=16)


class VariantIn(BaseModel):
    """One A/B variant: a template (the campaign's own when omitted) and its bindings, and its share."""

    model_config = ConfigDict(extra="forbid")

    template: TemplateRef | None = Field(default=None, description="the campaign's template when omitted")
    variables: Variables = Field(default_factory=dict)
    share: float | None = Field(default=None, gt=0, lt=100, description="percent of the sent contacts; give "
                                "every variant's (summing to 100) or none (an even split)")

    def stored(self) -> dict[str, Any]:
        return {
            "template_name": self.template.name if self.template else None,
            "template_language": self.template.language if self.template else None,
            "variables": {name: binding.stored() for name, binding in self.variables.items()},
            "share": self.share,
        }


def _split(variants: list[VariantIn] | None) -> list[VariantIn] | None:
    if not variants:
        return None  # an empty list clears the variants
    if not experiment.MIN_VARIANTS <= len(variants) <= experiment.MAX_VARIANTS:
        raise ValueError(f"give {experiment.MIN_VARIANTS} to {experiment.MAX_VARIANTS} variants (or none)")
    shares = [v.share for v in variants]
    if any(s is None for s in shares) and any(s is not None for s in shares):
        raise ValueError("give every variant's share, or none for an even split")
    if shares[0] is not None and abs(sum(s or 0 for s in shares) - 100) > 0.01:
        raise ValueError("the variants' shares must sum to 100")
    return variants


Variants = Annotated[list[VariantIn] | None, AfterValidator(_split)]


class CampaignSettings(BaseModel):
    """Fields shared by create and update. On update only the fields sent are applied."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(default="", max_length=MAX_NAME_LENGTH)
    whatsapp_number_id: int | None = None
    audience: Audience | None = None
    template: TemplateRef | None = None
    variables: Variables = Field(default_factory=dict)
    header_media_id: int | None = None
    bot_flow_id: int | None = None
    auto_end_after_hours: float | None = Field(default=None, gt=0, le=MAX_AUTO_END_HOURS)
    auto_resume: bool = Field(
        default=False,
        description="Paused because Meta paused or disabled its template: resume by itself when Meta reinstates "
        "it. Can be changed while the campaign runs.",
    )
    marketing_retry_days: float | None = Field(
        default=None, ge=0, le=marketing_retry.MAX_DAYS,
        description="how long a message Meta refused with 131049 (per-user marketing limit) is retried, in days "
                    "after its first try (default 7; 0: never)")
    frequency_cap_exempt: bool = Field(
        default=False,
        description="outside the organization's frequency cap (e.g. a service notice): neither held back by it nor "
        "counted towards it. Only an admin may set it (403 otherwise).")
    window_start: TimeOfDay = Field(
        default=None, description="send window: the local time (HH:MM, in each contact's timezone) it opens; set "
        "with window_end, or both null for no window")
    window_end: TimeOfDay = Field(
        default=None, description="send window: the local time (HH:MM) it closes; before window_start for an "
        "overnight window (22:00-06:00), never equal to it")
    window_weekdays: list[Weekday] | None = Field(
        default=None, min_length=1, max_length=7,
        description="send window: the local weekdays it opens on (an overnight window belongs to the day it opens); "
        "null: every day")
    window_end_action: Literal["carry_on", "end"] = Field(
        default="carry_on", description="a contact whose window closed before it was sent: carry_on waits for its "
        "next window; end counts it not sent ('send window closed before it was sent'), so the campaign ends once "
        "every contact's first window closed")

    @field_validator("window_weekdays")
    @classmethod
    def known_weekdays(cls, days: list[str] | None) -> list[str] | None:
        if days is None:
            return None
        return [d for d in send_window.WEEKDAYS if d in days]
    budget: float | None = Field(
        default=None, gt=0, le=MAX_BUDGET,
        description="at most this much (in the organization's currency) is spent on the campaign: it pauses with "
                    "'budget reached' before a send would exceed it (docs/costs.md); null: no budget. Can be "
                    "changed while the campaign runs.")
    holdout_percent: float = Field(
        default=0.0, ge=0, le=experiment.MAX_HOLDOUT_PERCENT,
        description="share of the eligible audience kept unsent (drawn at random, seeded) to measure the "
                    "campaign's lift: 0 to 50 percent")
    variants: Variants = Field(
        default=None, description="2 to 4 A/B variants, each a template and its bindings, drawn at random per "
                                  "contact with the shares given (or evenly); null or [] for none")
    breaker: BreakerSettings | None = Field(
        default=None, description="the quality circuit breaker's thresholds (docs/quality.md): the object given "
        "replaces the campaign's, its missing keys taking the defaults; null: the defaults. Can be changed while "
        "the campaign runs.")

    @field_validator("name")
    @classmethod
    def strip_name(cls, name: str) -> str:
        return name.strip()


class CampaignCreate(CampaignSettings):
    pass


class CampaignUpdate(CampaignSettings):
    rate_per_second: RatePerSecond | None = None
    rate_per_hour: RatePerHour | None = None


class VariantOut(BaseModel):
    name: str = Field(description="A, B, C or D")
    template: TemplateRef | None = Field(description="null: the campaign's template")
    variables: dict[str, Any]
    share: float = Field(description="percent of the sent contacts")

    @classmethod
    def of(cls, index: int, stored: dict[str, Any], share: float) -> VariantOut:
        template = None
        if stored.get("template_name") and stored.get("template_language"):
            template = TemplateRef(name=stored["template_name"], language=stored["template_language"])
        return cls(name=experiment.VARIANT_NAMES[index], template=template, variables=stored.get("variables") or {},
                   share=round(share, 2))


class CampaignOut(BaseModel):
    id: int
    kind: Kind
    parent_id: int | None
    name: str
    status: Status
    missing: list[str]
    whatsapp_number_id: int | None
    audience: dict[str, Any] | None
    template: TemplateRef | None
    variables: dict[str, Any]
    header_media_id: int | None
    bot_flow_id: int | None
    rate_per_second: float | None
    rate_per_hour: int | None
    start_at: datetime | None
    started_at: datetime | None
    ended_at: datetime | None
    status_reason: str | None
    auto_end_after_hours: float
    auto_resume: bool
    marketing_retry_days: float
    frequency_cap_exempt: bool
    window_start: str | None
    window_end: str | None
    window_weekdays: list[str] | None
    window_end_action: str
    parent_campaign_id: int | None = Field(
        description="a follow-up's parent: the campaign whose contacts with an outcome make its audience")
    followup_outcome: str | None = Field(description="a follow-up's outcome (POST /campaigns/{id}/follow-ups)")
    followup_value: str | None = Field(description="a follow-up's button or funnel step, for the outcomes that take one")
    budget: float | None
    committed_cost: float = Field(description="the forecast cost of the messages that left (or may have): what "
                                              "the budget is checked against")
    holdout_percent: float
    variants: list[VariantOut] | None
    breaker: BreakerSettings = Field(description="the quality circuit breaker's thresholds (docs/quality.md)")
    experiment_seed: int | None = Field(description="seeds the holdout and variant draws (set at launch if unset)")
    created_at: datetime
    progress: CampaignProgressOut | None = Field(
        default=None, description="in GET /campaigns only: its counters, pace and estimated finish (GET "
        "/campaigns/{id}/stats for one campaign's)")

    @classmethod
    def of(cls, campaign: Any, progress: CampaignProgressOut | None = None) -> CampaignOut:
        template = None
        if campaign.template_name and campaign.template_language:
            template = TemplateRef(name=campaign.template_name, language=campaign.template_language)
        skip = ("template", "progress", "variants", "breaker")
        fields = {name: getattr(campaign, name) for name in cls.model_fields if name not in skip}
        variants = None
        if campaign.variants:
            shares = experiment.shares_of(campaign.variants)
            variants = [VariantOut.of(i, v, shares[i]) for i, v in enumerate(campaign.variants)]
        return cls(template=template, progress=progress, variants=variants, breaker=settings_of(campaign.breaker),
                   **fields)


class StartIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rate_per_second: RatePerSecond = DEFAULT_RATE_PER_SECOND


class ScheduleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    start_at: AwareDatetime = Field(description="Within a year from now.")
    rate_per_hour: RatePerHour


class SendTestIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    phones: list[Annotated[str, Field(max_length=64)]] = Field(min_length=1, max_length=MAX_TEST_PHONES)


class AudiencePreviewIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    audience: Audience | None = None
    variables: Variables = Field(default_factory=dict)
    whatsapp_number_id: int | None = Field(
        default=None, description="the number to send from: the preview then shows its messaging limit's effect")


class MessagingLimitPreview(BaseModel):
    """The portfolio's messaging limit at launch: how many eligible contacts can go in the next 24 hours."""

    tier: str
    limit_per_24h: int
    reached_24h: int = Field(description="unique contacts the portfolio messaged in the last 24 hours")
    available_now: int = Field(description="new contacts it may still message now")
    waiting: int = Field(description="eligible contacts that would wait for places to free (at most, since "
                                     "contacts already messaged today need none)")


class ZoneCount(BaseModel):
    zone: str = Field(description="an IANA timezone, e.g. America/Sao_Paulo")
    contacts: int
    open_now: bool = Field(description="whether the window is open there now")
    opens_at: datetime | None = Field(description="when it next opens there (null: open now)")


class SendWindowPreview(BaseModel):
    """The eligible contacts against the campaign's send window, now (campaigns/send_window.py)."""

    outside_now: int = Field(description="eligible contacts outside their window now: they would wait")
    next_opening: datetime | None = Field(description="the earliest opening among them")
    invalid_timezone_tags: int = Field(description="eligible contacts whose 'timezone' tag is not a timezone: "
                                                   "their phone number's zone is used")
    zones: list[ZoneCount] = Field(description="the zones with the most eligible contacts, most first (at most 5)")


class AudiencePreview(BaseModel):
    matched: int
    eligible: int
    excluded: dict[str, int]
    messaging_limit: MessagingLimitPreview | None = Field(
        default=None, description="left out when the number is not given or its portfolio has no limit Herald knows")
    send_window: SendWindowPreview | None = Field(
        default=None, description="a campaign's preview, when the campaign has a send window")
    cost: CostForecast | None = Field(
        default=None, description="the forecast cost of the eligible contacts (docs/costs.md): an estimate, "
                                  "Meta's invoice is the truth")


class StaleUnknownOut(BaseModel):
    message_id: int
    contact_id: int
    phone: str | None
    name: str | None
    unknown_since: datetime | None
    attempts: int
    error_msg: str | None


class StaleUnknownList(BaseModel):
    """Messages that may have reached WhatsApp and stayed unresolved for ``older_than_hours``
    (``HERALD_UNKNOWN_RESEND_AFTER_HOURS``); ``items`` holds the first thousand."""

    older_than_hours: float
    total: int
    items: list[StaleUnknownOut]


class SendAgainIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    message_ids: list[int] | None = Field(
        default=None, max_length=10_000,
        description="Those of the listed messages to send again; all stale ones when omitted.",
    )


class SendAgainOut(BaseModel):
    sent_again: int


FollowUpOutcome = Literal[
    "not_delivered", "delivered_not_read", "read_not_replied", "replied_button", "reached_step", "not_reached_step"
]


class FollowUpIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    outcome: FollowUpOutcome = Field(description=(
        "whose contacts the follow-up takes: not_delivered (failed or unknown, without opted-out contacts and "
        "numbers not on WhatsApp), delivered_not_read, read_not_replied, replied_button (with button), "
        "reached_step / not_reached_step (with step)"))
    button: str | None = Field(default=None, max_length=256,
                               description="replied_button: the button's payload (or interactive id) or its text")
    step: str | None = Field(default=None, max_length=100, description="reached_step, not_reached_step: the funnel step")
    name: str | None = Field(default=None, max_length=MAX_NAME_LENGTH,
                             description="the new campaign's name (default: the parent's, with the outcome)")


class FollowUpOut(BaseModel):
    """A follow-up of a campaign, with its frozen audience's size now."""

    id: int
    name: str
    status: Status
    outcome: str
    button: str | None
    step: str | None
    description: str = Field(description="the outcome in words, e.g. “delivered, not read”")
    contacts: int = Field(description="contacts in its audience snapshot (deleted contacts drop out)")
    created_at: datetime


class FollowUpList(BaseModel):
    items: list[FollowUpOut]


class FollowUpChoiceOut(BaseModel):
    """An outcome a follow-up could be created from now, and how many contacts it would take."""

    outcome: FollowUpOutcome
    button: str | None = None
    step: str | None = None
    description: str
    contacts: int


class FollowUpChoices(BaseModel):
    can_follow_up: bool = Field(description="false for a test campaign or one not started yet")
    choices: list[FollowUpChoiceOut]


class SnapshotContactOut(BaseModel):
    contact_id: int
    phone: str | None
    name: str | None
    wa_user_id: str | None


class AudienceSnapshotOut(BaseModel):
    """A follow-up's frozen audience; ``count`` is all of it, ``items`` one page in contact id order."""

    campaign_id: int
    parent_campaign_id: int | None
    outcome: str
    description: str
    count: int
    items: list[SnapshotContactOut]
    next_cursor: str | None = None


class FollowUpLineage(BaseModel):
    """A follow-up as its pages name it; no parent once the parent was deleted."""

    parent_id: int | None
    parent_name: str | None
    description: str
    contacts: int
