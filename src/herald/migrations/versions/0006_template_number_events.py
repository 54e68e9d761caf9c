"""template and number events from Meta's webhooks; campaigns.auto_resume

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05 01:30:00

- ``template_events`` and ``number_events``: what Meta's template and number webhooks said
  (``message_template_status_update``, ``message_template_quality_update``,
  ``template_category_update``, ``phone_number_quality_update``, ``account_update``), one row per
  event applied, the history shown on the template and number pages.
- ``templates.quality_score`` and ``templates.status_updated_at``: the latest quality and when the
  status last changed by webhook.
- ``campaigns.auto_resume`` (default false): a campaign paused because Meta paused or disabled its
  template resumes by itself when Meta reinstates it.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql
from sqlalchemy.types import Text

import herald.kit.types

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def _json() -> sa.types.TypeEngine:  # type: ignore[type-arg]
    return sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql")


def _id() -> sa.Column:  # type: ignore[type-arg]
    return sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False)


def upgrade() -> None:
    op.create_table(
        "template_events",
        sa.Column("org_id", sa.BigInteger(), nullable=False),
        sa.Column("template_id", sa.BigInteger(), nullable=False),
        sa.Column("field", sa.String(length=40), nullable=False),
        sa.Column("event", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=True),
        sa.Column("category", sa.String(length=32), nullable=True),
        sa.Column("quality_score", sa.String(length=16), nullable=True),
        sa.Column("reason", sa.String(length=500), nullable=True),
        sa.Column("detail", _json(), nullable=False),
        sa.Column("occurred_at", herald.kit.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("recorded_at", herald.kit.types.UTCDateTime(timezone=True), nullable=False),
        _id(),
        sa.ForeignKeyConstraint(["org_id"], ["organizations.id"], name=op.f("fk_template_events_org_id_organizations"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["template_id"], ["templates.id"], name=op.f("fk_template_events_template_id_templates"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_template_events")),
    )
    op.create_index("ix_template_events_template_id_id", "template_events", ["template_id", "id"])
    op.create_table(
        "number_events",
        sa.Column("org_id", sa.BigInteger(), nullable=False),
        sa.Column("whatsapp_number_id", sa.BigInteger(), nullable=False),
        sa.Column("field", sa.String(length=40), nullable=False),
        sa.Column("event", sa.String(length=64), nullable=False),
        sa.Column("messaging_limit_tier", sa.String(length=32), nullable=True),
        sa.Column("quality_rating", sa.String(length=16), nullable=True),
        sa.Column("reason", sa.String(length=500), nullable=True),
        sa.Column("detail", _json(), nullable=False),
        sa.Column("occurred_at", herald.kit.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("recorded_at", herald.kit.types.UTCDateTime(timezone=True), nullable=False),
        _id(),
        sa.ForeignKeyConstraint(["org_id"], ["organizations.id"], name=op.f("fk_number_events_org_id_organizations"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["whatsapp_number_id"], ["whatsapp_numbers.id"],
                                name=op.f("fk_number_events_whatsapp_number_id_whatsapp_numbers"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_number_events")),
    )
    op.create_index("ix_number_events_whatsapp_number_id_id", "number_events", ["whatsapp_number_id", "id"])
    with op.batch_alter_table("templates", schema=None) as batch_op:
        batch_op.add_column(sa.Column("quality_score", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("status_updated_at", herald.kit.types.UTCDateTime(timezone=True), nullable=True))
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.add_column(sa.Column("auto_resume", sa.Boolean(), server_default=sa.false(), nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.drop_column("auto_resume")
    with op.batch_alter_table("templates", schema=None) as batch_op:
        batch_op.drop_column("status_updated_at")
        batch_op.drop_column("quality_score")
    op.drop_index("ix_number_events_whatsapp_number_id_id", table_name="number_events")
    op.drop_table("number_events")
    op.drop_index("ix_template_events_template_id_id", table_name="template_events")
    op.drop_table("template_events")
