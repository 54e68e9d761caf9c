from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, Float, ForeignKey, Index, Integer, String, false
from sqlalchemy.orm import Mapped, mapped_column

from herald.kit.types import JSONType, UTCDateTime, utcnow
from herald.models.base import Base, CreatedMixin, IdMixin

# A campaign's pace when it was given none, messages per second.
DEFAULT_RATE_PER_SECOND = 20.0
# How long a message refused with 131049 keeps being retried, days after its first try.
DEFAULT_MARKETING_RETRY_DAYS = 7.0


class Campaign(IdMixin, CreatedMixin, Base):
    __tablename__ = "campaigns"
    __table_args__ = (
        Index("ix_campaigns_org_kind_id", "org_id", "kind", "id"),
        Index("ix_campaigns_status_start_at", "status", "start_at"),
        # Ids are in URLs and reports: SQLite must never hand a deleted campaign's id out again
        # (migration 0009). PostgreSQL's sequences never do.
        {"sqlite_autoincrement": True},
    )

    org_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("organizations.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(8), default="real")
    parent_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("campaigns.id", ondelete="SET NULL"))
    name: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16), default="draft")
    whatsapp_number_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("whatsapp_numbers.id", ondelete="RESTRICT"), index=True
    )
    audience: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    test_contact_ids: Mapped[list[int] | None] = mapped_column(JSONType)
    template_name: Mapped[str | None] = mapped_column(String(512))
    template_language: Mapped[str | None] = mapped_column(String(16))
    variables: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    header_media_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("media.id", ondelete="RESTRICT"))
    bot_flow_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("bot_flows.id", ondelete="RESTRICT"))
    missing: Mapped[list[str]] = mapped_column(JSONType, default=list)
    rate_per_second: Mapped[float | None] = mapped_column(Float)
    rate_per_hour: Mapped[int | None] = mapped_column(Integer)
    start_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    materialized_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Last contact id materialised: a crashed materialisation resumes after it, counting nothing twice.
    materialize_cursor: Mapped[int] = mapped_column(BigInteger, default=0)
    last_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    status_reason: Mapped[str | None] = mapped_column(String(500))
    auto_end_after_hours: Mapped[float] = mapped_column(Float, default=72.0)
    # Paused because Meta paused or disabled its template: resume by itself when Meta reinstates it.
    auto_resume: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # 131049 (Meta's per-user marketing limit) is retried at growing intervals until this many days
    # after the message's first try (dispatch/retry_policy.py).
    marketing_retry_days: Mapped[float] = mapped_column(Float, default=DEFAULT_MARKETING_RETRY_DAYS)
    # Set by an admin (e.g. a service notice): neither held back by the organization's frequency cap
    # nor counted towards it (herald.campaigns.frequency_cap).
    frequency_cap_exempt: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # A send window in each contact's local time (herald.campaigns.send_window): "HH:MM" start and
    # end (end before start: the window runs overnight), the weekdays it opens on ("mon".."sun"), and
    # what happens to contacts whose window closed before they were sent. All NULL: no window.
    window_start: Mapped[str | None] = mapped_column(String(5))
    window_end: Mapped[str | None] = mapped_column(String(5))
    window_weekdays: Mapped[list[str] | None] = mapped_column(JSONType)
    window_end_action: Mapped[str] = mapped_column(String(8), default="carry_on", server_default="carry_on")
    # A follow-up (herald.campaigns.followups): the campaign it follows up, and the outcome (with its
    # button or funnel step) whose contacts make its frozen audience (``campaign_audience_snapshots``).
    # ``followup_outcome`` set means the audience is the snapshot, whatever became of the parent.
    # No foreign key (SQLite cannot add one to this table): deleting a campaign clears the link itself.
    parent_campaign_id: Mapped[int | None] = mapped_column(BigInteger, index=True)
    followup_outcome: Mapped[str | None] = mapped_column(String(32))
    followup_value: Mapped[str | None] = mapped_column(String(256))
    # At most this much (organization currency) is spent on the campaign: it pauses with
    # "budget reached" before a send would take ``committed_cost`` past it (herald.pricing.budget).
    budget: Mapped[float | None] = mapped_column(Float)
    # The forecast price of every message that left or may have (sent or unknown), added as its
    # batch is recorded: what the budget is checked against.
    committed_cost: Mapped[float] = mapped_column(Float, default=0.0, server_default="0")
    # A random share of the eligible audience kept unsent, to measure what the campaign caused
    # (campaigns/experiment.py); 0: none.
    holdout_percent: Mapped[float] = mapped_column(Float, default=0.0, server_default="0")
    # A/B variants, 2 to 4 (or NULL): each a template, its bindings and a share (campaigns/experiment.py).
    variants: Mapped[list[dict[str, Any]] | None] = mapped_column(JSONType)
    # Seeds the holdout and variant draws at materialisation: the same seed gives the same groups.
    experiment_seed: Mapped[int | None] = mapped_column(BigInteger)
    # The quality circuit breaker's thresholds (herald.quality.breaker, docs/quality.md); NULL: the defaults.
    breaker: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
