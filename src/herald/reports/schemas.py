"""Report shapes: the stats body (docs/architecture.md, "Stats"), and the timeline chart."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


class CostOut(BaseModel):
    """What the campaign cost so far (docs/costs.md): an estimate from the organization's rate card;
    Meta's invoice is the truth."""

    currency: str
    actual: float = Field(description="the sum of the prices of its messages Meta's status webhooks priced "
                                      "(0 for those Meta said are not billable)")
    committed: float = Field(description="the forecast price of every message that left or may have: what the "
                                         "budget is checked against")
    budget: float | None
    budget_used_pct: float | None = Field(description="committed as a percentage of the budget")


class GaugeOut(BaseModel):
    """One rule of the quality circuit breaker against its threshold (docs/quality.md)."""

    rule: str = Field(description="failure_rate, opt_out_rate or block_signals")
    label: str
    value: float = Field(description="percent of the window's sends for the rates, a count for block_signals")
    threshold: float | None = Field(description="null: the rule is off")
    unit: str = Field(description="'%' or 'count'")
    judged: bool = Field(description="false while the window holds fewer than min_sends sends (rates only)")
    tripped: bool


class BreakerOut(BaseModel):
    """The quality circuit breaker's window now: what the engine checks before each claim."""

    enabled: bool
    window: int = Field(description="the window's size in sends")
    min_sends: int
    window_sends: int = Field(description="the sends in the window now (from its last start: launch or resume)")
    number_quality: bool
    template_quality: bool
    gauges: list[GaugeOut]


class CampaignStatsOut(BaseModel):
    """``GET /campaigns/{id}/stats``: buckets, their subsets, reasons and percentages (0–100, one decimal)."""

    targeted: int
    pending: int
    sent: int
    received: int
    read: int
    replied: int
    unknown: int
    not_sent: int
    holdout: int = Field(default=0, description="contacts kept unsent as the campaign's holdout group")
    not_sent_reasons: dict[str, int] = Field(default_factory=dict)
    received_pct: float
    read_pct: float
    replied_pct: float
    waiting: int = Field(default=0, description="pending messages waiting for a later time (a limit, a retry)")
    waiting_reasons: dict[str, int] = Field(default_factory=dict, description="why they wait, e.g. "
                                            "'messaging limit 250/24 h reached'")
    next_send_at: datetime | None = Field(default=None, description="the earliest time one of them is due")
    cost: CostOut | None = Field(default=None, description="actual cost so far, against the budget")
    breaker: BreakerOut | None = Field(default=None, description="the quality circuit breaker's rates against "
                                       "their thresholds (docs/quality.md)")


class SendMinute(BaseModel):
    minute: datetime = Field(description="start of the minute, UTC")
    count: int = Field(description="messages WhatsApp accepted in that minute")


class Latency(BaseModel):
    """Seconds from acceptance (``sent_at``) to a later event, over the messages that reached it."""

    p50_s: float | None = Field(description="median; null when n is 0")
    p90_s: float | None = Field(description="90th percentile; null when n is 0")
    n: int


class Latencies(BaseModel):
    delivered: Latency
    read: Latency
    replied: Latency


class TimelineOut(BaseModel):
    """``GET /campaigns/{id}/timeline``: sends per minute and time to delivered / read / replied."""

    sends_per_minute: list[SendMinute]
    latency: Latencies


class CampaignProgressOut(BaseModel):
    """How far a campaign is, from its counters (the same words as ``CampaignStatsOut``), at what pace,
    and when it should finish (docs/design.md, "Progress")."""

    campaign_id: int
    status: str
    targeted: int
    pending: int
    sent: int
    received: int
    read: int
    replied: int
    unknown: int
    not_sent: int
    holdout: int = Field(default=0, description="contacts kept unsent as the holdout group")
    received_pct: float
    read_pct: float
    replied_pct: float
    done: int = Field(description="targeted contacts no longer pending: sent, not sent or unknown")
    done_pct: float = Field(description="done / targeted, 0–100 with one decimal")
    pace_per_minute: float | None = Field(
        description="messages WhatsApp accepted per minute over the last five minutes; null unless active or paused")
    estimated_finish: datetime | None = Field(
        description="when the last pending message should go: active campaigns at their pace, scheduled ones "
                    "from their start time, audience and pace; null otherwise")


class CampaignContactOut(BaseModel):
    """A targeted contact and where its message is (the report CSV's columns, in JSON)."""

    contact_id: int
    name: str | None
    phone: str | None
    wa_user_id: str | None
    status: str
    error_msg: str | None = Field(description="why it was not sent or failed (only for failed, not_sent, unknown)")
    sent_at: datetime | None
    delivered_at: datetime | None
    read_at: datetime | None
    replied_at: datetime | None
    variant: str | None = Field(default=None, description="the A/B variant it was sent with (A-D); null without one")


class CampaignContactsOut(BaseModel):
    """``GET /campaigns/{id}/contacts``: a page of the subset, in contact id order, and its size."""

    subset: str = Field(description="the subset in words, e.g. 'Not sent · not sent: campaign ended'")
    total: int
    items: list[CampaignContactOut]
    next_cursor: str | None = None


class Rate(BaseModel):
    """A proportion in percent (one decimal) with its 95 % Wilson interval."""

    count: int
    of: int
    pct: float
    low: float
    high: float


class StepLift(BaseModel):
    """One funnel step, the sent group against the holdout."""

    step: str
    sent_converted: int
    holdout_converted: int
    sent_rate: float = Field(description="percent of the sent group that reached the step")
    holdout_rate: float = Field(description="percent of the holdout that reached the step")
    points: float = Field(description="absolute lift: sent_rate - holdout_rate, in points")
    points_low: float = Field(description="95 % interval of the lift (Newcombe), low end, in points")
    points_high: float
    relative: float | None = Field(description="relative lift, percent of the holdout's rate; null when it is 0")
    sentence: str = Field(description="e.g. '+3.1 points, likely real', 'too few contacts to tell', "
                                      "'no measurable difference'")


class HoldoutOut(BaseModel):
    holdout_percent: float
    sent: int = Field(description="contacts WhatsApp accepted the message for (the sent group)")
    holdout: int = Field(description="contacts held out")
    steps: list[StepLift]


class VariantStepOut(BaseModel):
    step: str
    reached: Rate = Field(description="contacts of the variant's sent group that reached the step")


class VariantStatsOut(BaseModel):
    name: str
    template: str
    share: float
    targeted: int
    sent: int
    received: Rate = Field(description="received / sent")
    read: Rate = Field(description="read / received")
    replied: Rate = Field(description="replied / received")
    steps: list[VariantStepOut]


class ExperimentOut(BaseModel):
    """``GET /campaigns/{id}/experiment``: the holdout comparison and the A/B variants (null / [] without)."""

    holdout: HoldoutOut | None
    variants: list[VariantStatsOut]
