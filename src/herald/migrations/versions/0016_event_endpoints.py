"""events out: endpoints that receive signed batches of events, and the outbox they are sent from

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06 01:30:00

- ``event_endpoints``: an organization's URLs, with their encrypted secret, the event types each
  subscribes to and the deliverer's per-endpoint back-off and lease.
- ``event_outbox``: one row per event and endpoint, appended in the transaction of the change it
  reports; its status, attempts, last error and HTTP code are the delivery log.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import herald.kit.types

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "event_endpoints",
        sa.Column("org_id", sa.BigInteger(), nullable=False),
        sa.Column("url", sa.String(length=1000), nullable=False),
        sa.Column("secret_enc", sa.String(length=1000), nullable=False),
        sa.Column("event_types", herald.kit.types.JSONType, nullable=False),
        sa.Column("description", sa.String(length=200), nullable=False),
        sa.Column("deleted_at", herald.kit.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("backoff_until", herald.kit.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("lease_until", herald.kit.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("created_at", herald.kit.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"], ["organizations.id"], name=op.f("fk_event_endpoints_org_id_organizations"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_event_endpoints")),
    )
    op.create_index(op.f("ix_event_endpoints_org_id"), "event_endpoints", ["org_id"], unique=False)
    op.create_table(
        "event_outbox",
        sa.Column("org_id", sa.BigInteger(), nullable=False),
        sa.Column("endpoint_id", sa.BigInteger(), nullable=False),
        sa.Column("event_id", sa.String(length=40), nullable=False),
        sa.Column("event_type", sa.String(length=40), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.Column("last_status_code", sa.Integer(), nullable=True),
        sa.Column("last_attempt_at", herald.kit.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("delivered_at", herald.kit.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("created_at", herald.kit.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["endpoint_id"], ["event_endpoints.id"], name=op.f("fk_event_outbox_endpoint_id_event_endpoints"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["org_id"], ["organizations.id"], name=op.f("fk_event_outbox_org_id_organizations"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_event_outbox")),
    )
    op.create_index("ix_event_outbox_endpoint", "event_outbox", ["endpoint_id", "status", "id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_event_outbox_endpoint", table_name="event_outbox")
    op.drop_table("event_outbox")
    op.drop_index(op.f("ix_event_endpoints_org_id"), table_name="event_endpoints")
    op.drop_table("event_endpoints")
