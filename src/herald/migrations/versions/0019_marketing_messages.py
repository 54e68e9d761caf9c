"""a number's Marketing Messages API settings

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-06 04:30:00

- ``whatsapp_numbers.marketing_messages_api``: send MARKETING templates through Meta's
  ``/marketing_messages`` (default off).
- ``whatsapp_numbers.marketing_messages_ttl_seconds``: the marketing time to live (NULL: Meta's default).
- ``whatsapp_numbers.marketing_messages_activity_sharing``: ``message_activity_sharing`` (NULL: not sent).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

COLUMNS = ("marketing_messages_api", "marketing_messages_ttl_seconds", "marketing_messages_activity_sharing")


def upgrade() -> None:
    # Plain ADD COLUMN (see 0012): SQLite has it, NOT NULL with a constant default too.
    op.add_column(
        "whatsapp_numbers",
        sa.Column("marketing_messages_api", sa.Boolean(), server_default=sa.false(), nullable=False),
    )
    op.add_column("whatsapp_numbers", sa.Column("marketing_messages_ttl_seconds", sa.Integer(), nullable=True))
    op.add_column("whatsapp_numbers", sa.Column("marketing_messages_activity_sharing", sa.Boolean(), nullable=True))


def downgrade() -> None:
    # ALTER TABLE … DROP COLUMN (see 0012): a batch would copy the table without its AUTOINCREMENT.
    for column in reversed(COLUMNS):
        op.execute(f"ALTER TABLE whatsapp_numbers DROP COLUMN {column}")
