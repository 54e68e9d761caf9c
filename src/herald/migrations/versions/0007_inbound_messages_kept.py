"""inbound messages: contact events, opt-out reason and keywords, errors Meta reports per number

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05 02:00:00

- ``contact_events``: what happened to a contact that is not a message (a number change, a merge
  to do, an identity change, an opt-out or opt-in and why).
- ``contacts.opted_out_reason``: why the contact is opted out (a keyword, Meta's user_preferences).
- ``organizations.opt_out_keywords`` / ``opt_in_keywords``: NULL keeps Herald's defaults.
- ``whatsapp_numbers.webhook_errors``: the last errors Meta reported for the number itself.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import herald.kit.types

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def _json() -> Any:
    return sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "contact_events",
        sa.Column("org_id", sa.BigInteger(), nullable=False),
        sa.Column("contact_id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("at", herald.kit.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("detail", _json(), nullable=False),
        sa.Column("created_at", herald.kit.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.ForeignKeyConstraint(["contact_id"], ["contacts.id"], name=op.f("fk_contact_events_contact_id_contacts"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["org_id"], ["organizations.id"],
                                name=op.f("fk_contact_events_org_id_organizations"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contact_events")),
    )
    op.create_index("ix_contact_events_contact_at", "contact_events", ["contact_id", "at"])
    op.create_index(op.f("ix_contact_events_org_id"), "contact_events", ["org_id"])
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("opted_out_reason", sa.String(length=200), nullable=True))
    with op.batch_alter_table("organizations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("opt_out_keywords", _json(), nullable=True))
        batch_op.add_column(sa.Column("opt_in_keywords", _json(), nullable=True))
    with op.batch_alter_table("whatsapp_numbers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("webhook_errors", _json(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("whatsapp_numbers", schema=None) as batch_op:
        batch_op.drop_column("webhook_errors")
    with op.batch_alter_table("organizations", schema=None) as batch_op:
        batch_op.drop_column("opt_in_keywords")
        batch_op.drop_column("opt_out_keywords")
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.drop_column("opted_out_reason")
    op.drop_index(op.f("ix_contact_events_org_id"), table_name="contact_events")
    op.drop_index("ix_contact_events_contact_at", table_name="contact_events")
    op.drop_table("contact_events")
