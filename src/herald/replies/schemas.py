"""What bots send and read: funnel events, answers to users, bot deliveries."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import AwareDatetime, BaseModel, Field, model_validator


class FunnelEventIn(BaseModel):
    """Exactly one of ``phone`` (any form with its country code) and ``contact_id``."""

    phone: str | None = Field(default=None, max_length=64)
    contact_id: int | None = None
    step: str = Field(min_length=1, max_length=100)
    at: AwareDatetime | None = Field(default=None, description="When the step was reached; default now.")

    @model_validator(mode="after")
    def _one_target(self) -> FunnelEventIn:
        if (self.phone is None) == (self.contact_id is None):
            raise ValueError("give exactly one of phone and contact_id")
        return self


class FunnelEventOut(BaseModel):
    campaign_id: int
    contact_id: int
    step: str
    at: datetime
    created: bool = Field(description="False when the step was already recorded (its first time is kept).")


class FunnelStep(BaseModel):
    step: str
    contacts: int


class FunnelOut(BaseModel):
    steps: list[FunnelStep]


class MessageIn(BaseModel):
    whatsapp_number_id: int
    to: str = Field(min_length=1, max_length=64)
    text: str = Field(min_length=1, max_length=4096)  # WhatsApp's limit for a text body


class MessageOut(BaseModel):
    wamid: str


class DeliveryStatus(StrEnum):
    pending = "pending"
    delivered = "delivered"
    failed = "failed"


class BotDeliveryOut(BaseModel):
    id: int
    delivery_id: str
    campaign_id: int
    contact_id: int
    bot_flow_id: int
    status: DeliveryStatus
    attempts: int
    next_attempt_at: datetime | None
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None
