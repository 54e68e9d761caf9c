"""Report shapes: the stats body (docs/architecture.md, "Stats"), and the timeline chart."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


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
    not_sent_reasons: dict[str, int] = Field(default_factory=dict)
    received_pct: float
    read_pct: float
    replied_pct: float
    waiting: int = Field(default=0, description="pending messages waiting for a later time (a limit, a retry)")
    waiting_reasons: dict[str, int] = Field(default_factory=dict, description="why they wait, e.g. "
                                            "'messaging limit 250/24 h reached'")
    next_send_at: datetime | None = Field(default=None, description="the earliest time one of them is due")


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
