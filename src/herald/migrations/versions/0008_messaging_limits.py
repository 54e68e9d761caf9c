"""messaging limits and 131049 retries: portfolio reaches, wait reasons, a per-campaign retry deadline

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05 01:30:00

- ``portfolio_reaches``: the contacts each business portfolio messaged in the last 24 hours, which
  Meta's messaging limit counts (``herald.dispatch.messaging_limit``).
- ``whatsapp_numbers.business_portfolio_id`` (optional): numbers of one portfolio share its limit;
  without it a number's WABA stands for its portfolio. ``messaging_limit_tier`` already exists.
- ``campaign_messages.wait_reason``: why a pending message waits (the messaging limit, a 131049 retry).
- ``campaigns.marketing_retry_days`` (default 7): how long 131049 is retried after a message's first try.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import herald.kit.types

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "portfolio_reaches",
        sa.Column("portfolio", sa.String(length=100), nullable=False),
        sa.Column("contact_id", sa.BigInteger(), nullable=False),
        sa.Column("reached_at", herald.kit.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("portfolio", "contact_id", name=op.f("pk_portfolio_reaches")),
    )
    op.create_index("ix_portfolio_reaches_portfolio_reached_at", "portfolio_reaches", ["portfolio", "reached_at"])
    with op.batch_alter_table("whatsapp_numbers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("business_portfolio_id", sa.String(length=64), nullable=True))
    with op.batch_alter_table("campaign_messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("wait_reason", sa.String(length=200), nullable=True))
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.add_column(sa.Column("marketing_retry_days", sa.Float(), server_default="7", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.drop_column("marketing_retry_days")
    with op.batch_alter_table("campaign_messages", schema=None) as batch_op:
        batch_op.drop_column("wait_reason")
    with op.batch_alter_table("whatsapp_numbers", schema=None) as batch_op:
        batch_op.drop_column("business_portfolio_id")
    op.drop_index("ix_portfolio_reaches_portfolio_reached_at", table_name="portfolio_reaches")
    op.drop_table("portfolio_reaches")
