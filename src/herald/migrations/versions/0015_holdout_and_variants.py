"""holdout groups and A/B variants

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06 01:30:00

- ``campaigns.holdout_percent``, ``variants`` and ``experiment_seed``: the share kept unsent, the
  A/B variants, and the seed of both draws (``herald.campaigns.experiment``).
- ``campaign_messages.variant``: the variant a message is sent with (NULL without variants).
- ``campaign_stats.holdout``: the counter of held-out contacts (a bucket of its own beside
  pending / sent / unknown / not_sent).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMN: a batch would copy ``campaigns`` into a table without migration 0009's AUTOINCREMENT.
    op.add_column("campaigns", sa.Column("holdout_percent", sa.Float(), server_default="0", nullable=False))
    op.add_column("campaigns", sa.Column(
        "variants", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=True))
    op.add_column("campaigns", sa.Column("experiment_seed", sa.BigInteger(), nullable=True))
    op.add_column("campaign_messages", sa.Column("variant", sa.SmallInteger(), nullable=True))
    op.add_column("campaign_stats", sa.Column("holdout", sa.BigInteger(), server_default="0", nullable=False))


def downgrade() -> None:
    op.execute("ALTER TABLE campaign_stats DROP COLUMN holdout")
    op.execute("ALTER TABLE campaign_messages DROP COLUMN variant")
    op.execute("ALTER TABLE campaigns DROP COLUMN experiment_seed")
    op.execute("ALTER TABLE campaigns DROP COLUMN variants")
    op.execute("ALTER TABLE campaigns DROP COLUMN holdout_percent")
