from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import BigInteger, Float, Index, Integer, SmallInteger, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from herald.kit.types import UTCDateTime
from herald.models.base import Base, IdMixin


class MessageStatus(StrEnum):
    """Where a campaign message is (``CampaignMessage.status``); docs/architecture.md draws its state machine."""

    pending = "pending"  # waiting for a claim (or for its retry's time)
    # Taken by a sender, under a lease. Its request may have left once its claim's watermark reached
    # its id (``SendClaim``): after a crash those become unknown, the others go back to pending.
    claimed = "claimed"
    # Held rows of older versions, marked one by one before their requests left (a crash makes them
    # unknown); no longer written.
    sending = "sending"
    sent = "sent"  # accepted by WhatsApp (it answered with a wamid, or a status webhook said so)
    delivered = "delivered"
    read = "read"
    failed = "failed"  # WhatsApp accepted it, then said it failed
    not_sent = "not_sent"  # never sent: skipped by a send-time rule, refused, or its campaign ended
    unknown = "unknown"  # may have been sent (no answer, or its sender died); a status webhook resolves it
    holdout = "holdout"  # kept unsent on purpose, to compare with (the campaign's holdout group)


# A/B variants by ``CampaignMessage.variant`` (0 = A): the names the stats, API and report CSV show.
VARIANT_NAMES = "ABCD"
# Counted as ``pending`` (not sent yet, still to be tried).
NOT_YET_SENT = frozenset({MessageStatus.pending, MessageStatus.claimed, MessageStatus.sending})
# Held by a sender under a lease (``lease_until``): only that sender writes these rows.
HELD = frozenset({MessageStatus.claimed, MessageStatus.sending})
# The partial index of leased rows, which the reaper scans (and the migration that made it).
HELD_SQL = f"status IN ('{MessageStatus.claimed}', '{MessageStatus.sending}')"
# Counted as ``sent``: WhatsApp accepted the message.
ACCEPTED = frozenset({MessageStatus.sent, MessageStatus.delivered, MessageStatus.read})
# Counted as ``received``.
RECEIVED = frozenset({MessageStatus.delivered, MessageStatus.read})


class CampaignMessage(IdMixin, Base):
    """One row per (campaign, contact): the outbox, the delivery record and the report row at once."""

    __tablename__ = "campaign_messages"
    __table_args__ = (
        UniqueConstraint("campaign_id", "contact_id"),
        Index("ix_campaign_messages_claim", "campaign_id", "status", "next_attempt_at", "id"),
        # Partial: a message has no wamid until it is sent, and is leased only while held, so
        # materialising an audience does not pay for entries nobody looks up.
        Index(
            "ix_campaign_messages_wamid", "wamid",
            sqlite_where=text("wamid IS NOT NULL"), postgresql_where=text("wamid IS NOT NULL"),
        ),
        # A contact's accepted sends by time, which the frequency cap counts at each claim. Partial:
        # only sent messages have a ``sent_at``, so materialising an audience does not pay for it.
        Index(
            "ix_campaign_messages_contact_sent", "contact_id", "sent_at",
            sqlite_where=text("sent_at IS NOT NULL"), postgresql_where=text("sent_at IS NOT NULL"),
        ),
        Index(
            "ix_campaign_messages_lease", "lease_until",
            sqlite_where=text(HELD_SQL), postgresql_where=text(HELD_SQL),
        ),
    )

    # No foreign keys, to campaigns or to contacts: their per-row checks (and the row lock each takes
    # on the contact) were most of the cost of materialising an audience on PostgreSQL. Messages are
    # only inserted for a campaign whose row the chunk holds locked; deleting a campaign
    # (campaigns.repository.delete_campaign) or a contact (contacts.repository.delete_contact) deletes
    # its messages itself, the contact's reaching them through the (campaign_id, contact_id) key.
    campaign_id: Mapped[int] = mapped_column(BigInteger)
    contact_id: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16), default=MessageStatus.pending.value)
    error_msg: Mapped[str | None] = mapped_column(String(500))
    error_code: Mapped[int | None] = mapped_column(Integer)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Why a pending message waits until ``next_attempt_at`` (the portfolio's messaging limit, a 131049
    # retry); shown in the report and the stats while the message is pending.
    wait_reason: Mapped[str | None] = mapped_column(String(200))
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The claim (``SendClaim``) that holds it while ``claimed``; stale once the message moved on.
    claim_id: Mapped[int | None] = mapped_column(BigInteger)
    wamid: Mapped[str | None] = mapped_column(String(128))
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    failed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    replied_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # When it became ``unknown`` (no answer, or its sender died while it was ``sending``): after
    # ``HERALD_UNKNOWN_RESEND_AFTER_HOURS`` unresolved, an operator may send it again (``campaigns/resend.py``).
    unknown_since: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # From the ``pricing`` object of its status webhooks: Meta's category (marketing, utility, ...) and
    # the price of the organization's rate card then (0 when Meta said it is not billable).
    pricing_category: Mapped[str | None] = mapped_column(String(32))
    price: Mapped[float | None] = mapped_column(Float)
    # The A/B variant it is sent with (0 = A …), drawn at materialisation; NULL without variants.
    variant: Mapped[int | None] = mapped_column(SmallInteger)
