from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class EventEndpointCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(min_length=1, max_length=1000)
    secret: str = Field(min_length=16, max_length=500, description="Signs every POST; write-only, never returned.")
    event_types: list[str] = Field(min_length=1, max_length=50, description="Event types it receives (docs/events.md).")
    description: str = Field(default="", max_length=200)


class EventEndpointUpdate(BaseModel):
    """Every field optional; a secret left out keeps the stored one, except when the URL changes:
    a new URL needs its secret again, so a stolen session cannot point the old secret elsewhere."""

    model_config = ConfigDict(extra="forbid")

    url: str | None = Field(default=None, min_length=1, max_length=1000)
    secret: str | None = Field(default=None, min_length=16, max_length=500)
    event_types: list[str] | None = Field(default=None, min_length=1, max_length=50)
    description: str | None = Field(default=None, max_length=200)


class EventEndpointOut(BaseModel):
    id: int
    url: str
    description: str
    event_types: list[str]
    has_secret: bool
    failures: int = Field(description="Consecutive failed POSTs; 0 once one succeeds.")
    backoff_until: datetime | None = Field(description="No POST before this time, after failures.")
    created_at: datetime


class DeliveryStatus(StrEnum):
    pending = "pending"
    delivered = "delivered"
    failed = "failed"


class EventDeliveryOut(BaseModel):
    """One batch of events for one endpoint, as recorded together (the events of one round of
    webhooks or sends, 200 at most) and POSTed together; a POST may carry several batches. What the
    endpoint answered is never stored."""

    id: int
    event_id: str = Field(description="The batch's first event.")
    last_event_id: str = Field(description="The batch's last event (the first, for a batch of one).")
    event_count: int = Field(description="How many events the batch holds.")
    event_type: str = Field(description="The first event's type.")
    event_types: list[str] = Field(description="The batch's distinct event types, in the order first seen.")
    status: DeliveryStatus
    attempts: int
    last_error: str | None
    last_status_code: int | None
    last_attempt_at: datetime | None
    delivered_at: datetime | None
    created_at: datetime


class TestEventOut(BaseModel):
    event_id: str
