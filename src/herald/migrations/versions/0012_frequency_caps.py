"""frequency caps across campaigns

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-05 23:10:00

- ``organizations.frequency_cap_messages`` / ``frequency_cap_days``: at most that many marketing
  messages per contact in any that many days (both NULL: no cap).
- ``campaigns.frequency_cap_exempt``: a campaign an admin set outside the cap.
- ``ix_campaign_messages_contact_sent``: each claim counts its contacts' recent accepted sends.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMN (SQLite has it, NOT NULL with a default too): a batch would copy ``campaigns``
    # into a table without the AUTOINCREMENT of migration 0009.
    op.add_column("organizations", sa.Column("frequency_cap_messages", sa.Integer(), nullable=True))
    op.add_column("organizations", sa.Column("frequency_cap_days", sa.Integer(), nullable=True))
    op.add_column("campaigns", sa.Column("frequency_cap_exempt", sa.Boolean(), server_default=sa.false(),
                                         nullable=False))
    op.create_index(
        "ix_campaign_messages_contact_sent", "campaign_messages", ["contact_id", "sent_at"],
        sqlite_where=sa.text("sent_at IS NOT NULL"), postgresql_where=sa.text("sent_at IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_campaign_messages_contact_sent", table_name="campaign_messages")
    # ALTER TABLE … DROP COLUMN: SQLite has it since 3.35; a batch would lose campaigns' AUTOINCREMENT.
    op.execute("ALTER TABLE campaigns DROP COLUMN frequency_cap_exempt")
    op.execute("ALTER TABLE organizations DROP COLUMN frequency_cap_days")
    op.execute("ALTER TABLE organizations DROP COLUMN frequency_cap_messages")
