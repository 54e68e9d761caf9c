"""quality circuit breaker

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-06 04:30:00

- ``campaigns.breaker``: the campaign's breaker thresholds (NULL: the defaults, docs/quality.md).
- ``campaign_stats.quality_sends`` / ``quality_failures`` / ``quality_blocks`` / ``quality_opt_outs``:
  what the breaker counts, kept with the other counters, and ``quality_marks``: the counts at a few
  points of the campaign's sends, from which its rolling window is read.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

_COUNTERS = ("quality_sends", "quality_failures", "quality_blocks", "quality_opt_outs")


def upgrade() -> None:
    # Plain ADD COLUMN (see 0012): a batch would copy ``campaigns`` without its AUTOINCREMENT.
    op.add_column("campaigns", sa.Column("breaker", JSON, nullable=True))
    for column in _COUNTERS:
        op.add_column("campaign_stats", sa.Column(column, sa.BigInteger(), server_default="0", nullable=False))
    op.add_column("campaign_stats", sa.Column("quality_marks", JSON, nullable=True))


def downgrade() -> None:
    for table, column in (
        ("campaign_stats", "quality_marks"), *(("campaign_stats", c) for c in reversed(_COUNTERS)),
        ("campaigns", "breaker"),
    ):
        op.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
