from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, ForeignKey, Integer, String
from sqlalchemy import false as sa_false
from sqlalchemy.orm import Mapped, mapped_column

from herald.kit.types import JSONType, UTCDateTime
from herald.models.base import Base, CreatedMixin, IdMixin

# A number's throughput until Graph tells its tier: Meta's STANDARD tier (whatsapp/client.py THROUGHPUT_MPS).
DEFAULT_THROUGHPUT_MPS = 80


class WhatsAppNumber(IdMixin, CreatedMixin, Base):
    """A WhatsApp Cloud number. Token, app secret and verify token are Fernet-encrypted."""

    __tablename__ = "whatsapp_numbers"

    org_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("organizations.id", ondelete="CASCADE"), index=True)
    display_phone_number: Mapped[str] = mapped_column(String(32))
    # Webhooks route on phone_number_id, so one number belongs to one organization.
    phone_number_id: Mapped[str] = mapped_column(String(64), unique=True)
    waba_id: Mapped[str] = mapped_column(String(64), index=True)
    access_token_enc: Mapped[str] = mapped_column(String(2000))
    app_secret_enc: Mapped[str] = mapped_column(String(1000))
    verify_token_enc: Mapped[str] = mapped_column(String(1000))
    # HMAC of the verify token under HERALD_SECRET_KEY (`kit.crypto.verify_token_digest`), so Meta's
    # handshake finds its numbers by index; NULL or keyed by an older secret key until filled again.
    verify_token_digest: Mapped[str | None] = mapped_column(String(80), index=True)
    graph_api_base: Mapped[str] = mapped_column(String(300), default="https://graph.facebook.com")
    graph_api_version: Mapped[str] = mapped_column(String(16), default="v23.0")
    throughput_mps: Mapped[int] = mapped_column(Integer, default=DEFAULT_THROUGHPUT_MPS)
    # Meta's messaging limit of the number's business portfolio (``TIER_250`` … ``TIER_UNLIMITED``),
    # from the number's info or a ``phone_number_quality_update`` webhook; NULL: not known.
    messaging_limit_tier: Mapped[str | None] = mapped_column(String(32))
    # The Meta business portfolio the number's WABA belongs to, when the user tells Herald: numbers
    # with the same one share a messaging limit; without it each WABA counts as a portfolio of its own
    # (dispatch/messaging_limit.py, docs/whatsapp.md "Messaging limit").
    business_portfolio_id: Mapped[str | None] = mapped_column(String(64))
    quality_rating: Mapped[str | None] = mapped_column(String(16))
    info_synced_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The last errors Meta reported for the number itself (a webhook value with errors[] and no
    # message), newest first, at most webhooks.value_errors.KEEP.
    webhook_errors: Mapped[list[dict[str, Any]] | None] = mapped_column(JSONType)
    # Meta's Marketing Messages API for WhatsApp (docs/whatsapp.md, "Marketing Messages API"): on, the
    # number's MARKETING templates go to ``/marketing_messages``; the others keep ``/messages``.
    marketing_messages_api: Mapped[bool] = mapped_column(Boolean, default=False, server_default=sa_false())
    # How long a marketing message is worth delivering, in seconds (Meta's marketing range, 12 h to 30 days);
    # NULL: Meta's default. Herald never retries a marketing message past it (dispatch/marketing_messages.py).
    marketing_messages_ttl_seconds: Mapped[int | None] = mapped_column(Integer)
    # ``message_activity_sharing`` sent with each message; NULL: left out (Meta's default for the business).
    marketing_messages_activity_sharing: Mapped[bool | None] = mapped_column(Boolean)
