"""follow-ups by outcome

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06 01:20:00

- ``campaigns.parent_campaign_id`` / ``followup_outcome`` / ``followup_value``: a follow-up campaign,
  the campaign it follows up and the outcome (button, funnel step) its audience was taken from.
- ``campaign_audience_snapshots``: a follow-up's frozen audience, one row per contact.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMN (a batch would copy ``campaigns`` into a table without the AUTOINCREMENT of
    # migration 0009). No foreign key on the parent: SQLite cannot add one to an existing table, and
    # deleting a campaign clears its follow-ups' link itself (campaigns.repository.delete_campaign).
    op.add_column("campaigns", sa.Column("parent_campaign_id", sa.BigInteger(), nullable=True))
    op.add_column("campaigns", sa.Column("followup_outcome", sa.String(length=32), nullable=True))
    op.add_column("campaigns", sa.Column("followup_value", sa.String(length=256), nullable=True))
    op.create_index("ix_campaigns_parent_campaign_id", "campaigns", ["parent_campaign_id"])
    op.create_table(
        "campaign_audience_snapshots",
        sa.Column("campaign_id", sa.BigInteger(), sa.ForeignKey("campaigns.id", ondelete="CASCADE"), nullable=False),
        sa.Column("contact_id", sa.BigInteger(), sa.ForeignKey("contacts.id", ondelete="CASCADE"), nullable=False),
        sa.PrimaryKeyConstraint("campaign_id", "contact_id"),
    )
    op.create_index("ix_campaign_audience_snapshots_contact_id", "campaign_audience_snapshots", ["contact_id"])


def downgrade() -> None:
    op.drop_index("ix_campaign_audience_snapshots_contact_id", table_name="campaign_audience_snapshots")
    op.drop_table("campaign_audience_snapshots")
    op.drop_index("ix_campaigns_parent_campaign_id", table_name="campaigns")
    # ALTER TABLE … DROP COLUMN: SQLite has it since 3.35; a batch would lose campaigns' AUTOINCREMENT.
    op.execute("ALTER TABLE campaigns DROP COLUMN followup_value")
    op.execute("ALTER TABLE campaigns DROP COLUMN followup_outcome")
    op.execute("ALTER TABLE campaigns DROP COLUMN parent_campaign_id")
