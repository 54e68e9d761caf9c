"""What bots send and read: funnel events, answers to users, bot deliveries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from enum import StrEnum

from pydantic import AwareDatetime, BaseModel, Field, field_validator, model_validator

from herald.kit.types import as_utc, utcnow

# A funnel step is reached after the campaign's send: no earlier than this, no later than now (with
# a day's leeway for a bot's clock).
EARLIEST_FUNNEL_TIME = datetime(2000, 1, 1, tzinfo=UTC)
FUTURE_LEEWAY = timedelta(days=1)


class FunnelEventIn(BaseModel):
    """Exactly one of ``phone`` (any form with its country code) and ``contact_id``."""

    phone: str | None = Field(default=None, max_length=64)
    contact_id: int | None = None
    step: str = Field(min_length=1, max_length=100)
    at: AwareDatetime | None = Field(
        default=None, description="When the step was reached (from 2000 to now); default now."
    )

    @field_validator("at")
    @classmethod
    def _plausible(cls, at: datetime | None) -> datetime | None:
        if at is None:
            return None
        utc = as_utc(at)
        if utc is None or not EARLIEST_FUNNEL_TIME <= utc <= utcnow() + FUTURE_LEEWAY:
            raise ValueError("must be between 2000-01-01T00:00:00Z and now")
        return utc

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
    to: str = Field(min_length=1, max_length=140, description="The user's phone, or their WhatsApp user id (BSUID).")
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


class Routing(StrEnum):
    """Where an inbound message went (``replies/received.py`` decides it from what is stored)."""

    unknown_sender = "unknown_sender"  # from a phone or user id that is no contact of the organization
    no_campaign = "no_campaign"  # the contact was in no running campaign and answered no campaign message
    no_bot = "no_bot"  # attributed to a campaign, not forwarded: no bot flow, or nothing a bot receives
    bot_pending = "bot_pending"  # on its way to the bot flow (retried with back-off after a failure)
    bot_delivered = "bot_delivered"
    bot_failed = "bot_failed"  # the bot flow never accepted it: given up


class ReceivedContact(BaseModel):
    id: int
    name: str | None
    phone: str | None


class ReceivedCampaign(BaseModel):
    id: int
    name: str | None


class ReceivedDelivery(BaseModel):
    id: int
    status: DeliveryStatus
    attempts: int
    last_error: str | None
    next_attempt_at: datetime | None
    delivered_at: datetime | None


class ReceivedMessageOut(BaseModel):
    """A message a contact (or an unknown sender) wrote to one of the organization's numbers."""

    id: int
    wamid: str
    type: str = Field(description="WhatsApp's message type: text, button, interactive, reaction, system…")
    text: str | None = Field(description="What the user wrote or tapped, when it has text.")
    sent_at: datetime = Field(description="When the user sent it (WhatsApp's timestamp).")
    received_at: datetime
    from_wa_id: str | None
    contact: ReceivedContact | None = Field(description="null: the sender is no contact of the organization.")
    campaign: ReceivedCampaign | None = Field(description="The campaign it was attributed to, if any.")
    routing: Routing = Field(description="Whether a bot flow received it, and if not, why.")
    bot_delivery: ReceivedDelivery | None
