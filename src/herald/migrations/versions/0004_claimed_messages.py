"""claimed messages: a state before `sending`; when a message became unknown; an audit log

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-05 01:40:00

- ``campaign_messages.status`` gains ``claimed`` (a sender took it; its request has not left): the
  reaper returns an expired ``claimed`` row to ``pending``, and only an expired ``sending`` row
  becomes ``unknown``. The partial lease index covers both. Rows ``sending`` at upgrade time stay
  ``sending``: they were claimed under the old rule, and may have left.
- ``campaign_messages.unknown_since``: when a message became ``unknown``, so that unresolved ones
  can be listed and sent again by an operator after a while. Rows already ``unknown`` get the
  upgrade's time.
- ``audit_events``: who sent possibly-sent messages again, and when.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import herald.kit.types

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_HELD = "status IN ('claimed', 'sending')"
_SENDING = "status = 'sending'"


def upgrade() -> None:
    with op.batch_alter_table("campaign_messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("unknown_since", herald.kit.types.UTCDateTime(timezone=True), nullable=True))
    op.drop_index("ix_campaign_messages_lease", table_name="campaign_messages")
    op.create_index(
        "ix_campaign_messages_lease", "campaign_messages", ["lease_until"],
        sqlite_where=sa.text(_HELD), postgresql_where=sa.text(_HELD),
    )
    messages = sa.table(
        "campaign_messages", sa.column("status", sa.String), sa.column("unknown_since", herald.kit.types.UTCDateTime(timezone=True))
    )
    op.execute(sa.update(messages).where(messages.c.status == "unknown").values(unknown_since=sa.func.current_timestamp()))
    op.create_table(
        "audit_events",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("org_id", sa.BigInteger(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=True),
        sa.Column("api_key_id", sa.BigInteger(), nullable=True),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("campaign_id", sa.BigInteger(), nullable=True),
        sa.Column("detail", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False),
        sa.Column("at", herald.kit.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_events")),
    )
    op.create_index("ix_audit_events_campaign", "audit_events", ["campaign_id", "at"])


def downgrade() -> None:
    op.drop_index("ix_audit_events_campaign", table_name="audit_events")
    op.drop_table("audit_events")
    op.execute("UPDATE campaign_messages SET status = 'pending', lease_until = NULL WHERE status = 'claimed'")
    op.drop_index("ix_campaign_messages_lease", table_name="campaign_messages")
    op.create_index(
        "ix_campaign_messages_lease", "campaign_messages", ["lease_until"],
        sqlite_where=sa.text(_SENDING), postgresql_where=sa.text(_SENDING),
    )
    with op.batch_alter_table("campaign_messages", schema=None) as batch_op:
        batch_op.drop_column("unknown_since")
