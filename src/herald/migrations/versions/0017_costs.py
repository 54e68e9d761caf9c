"""cost forecast, actual cost and budget caps

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-06 01:40:00

- ``organizations.rate_card`` / ``rate_overrides`` / ``currency``: the organization's own rate card,
  its single-rate overrides and currency (all NULL: Herald's shipped card, in USD).
- ``campaigns.budget`` / ``committed_cost``: the cap and the forecast cost of what left so far.
- ``campaign_messages.pricing_category`` / ``price``: from the ``pricing`` object of status webhooks.
- ``campaign_stats.cost``: the actual cost so far, the sum of those prices.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMN (see 0012): a batch would copy ``campaigns`` without its AUTOINCREMENT.
    op.add_column("organizations", sa.Column("rate_card", JSON, nullable=True))
    op.add_column("organizations", sa.Column("rate_overrides", JSON, nullable=True))
    op.add_column("organizations", sa.Column("currency", sa.String(3), nullable=True))
    op.add_column("campaigns", sa.Column("budget", sa.Float(), nullable=True))
    op.add_column("campaigns", sa.Column("committed_cost", sa.Float(), server_default="0", nullable=False))
    op.add_column("campaign_messages", sa.Column("pricing_category", sa.String(32), nullable=True))
    op.add_column("campaign_messages", sa.Column("price", sa.Float(), nullable=True))
    op.add_column("campaign_stats", sa.Column("cost", sa.Float(), server_default="0", nullable=False))


def downgrade() -> None:
    for table, column in (
        ("campaign_stats", "cost"), ("campaign_messages", "price"), ("campaign_messages", "pricing_category"),
        ("campaigns", "committed_cost"), ("campaigns", "budget"), ("organizations", "currency"),
        ("organizations", "rate_overrides"), ("organizations", "rate_card"),
    ):
        op.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
