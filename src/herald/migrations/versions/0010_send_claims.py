"""send claims: a watermark per claim instead of a write per message before it leaves

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05 22:20:00

- ``send_claims``: one row per claim of campaign messages while they are held, with the highest
  message id whose request may have left (``watermark``). Ids are never reused (``AUTOINCREMENT`` on
  SQLite, a sequence on PostgreSQL).
- ``campaign_messages.claim_id``: the claim holding a ``claimed`` message. Rows ``claimed`` at upgrade
  time have none: their requests had not left (the old rule marked them ``sending`` first), so the
  reaper returns them to ``pending`` as before. Rows ``sending`` stay ``sending`` and become
  ``unknown`` when their lease runs out.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "send_claims",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("watermark", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_send_claims")),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("campaign_messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("claim_id", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    # Held rows a claim may have sent keep the old rule's meaning: ``sending``.
    op.execute(
        "UPDATE campaign_messages SET status = 'sending' WHERE status = 'claimed' AND EXISTS"
        " (SELECT 1 FROM send_claims c WHERE c.id = campaign_messages.claim_id AND campaign_messages.id <= c.watermark)"
    )
    with op.batch_alter_table("campaign_messages", schema=None) as batch_op:
        batch_op.drop_column("claim_id")
    op.drop_table("send_claims")
