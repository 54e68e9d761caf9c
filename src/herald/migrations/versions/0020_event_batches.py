"""events out: an outbox row holds a batch of events (one per recording round and endpoint)

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-06 07:30:00

- ``event_outbox.payload``: the batch's envelopes, comma-separated (a POST's body is ``[``, the
  payloads of its rows joined with ``,``, and ``]``); a row written before holds one envelope, so
  it already is a batch of one.
- ``event_outbox.event_count``: how many events the row holds (1 for the rows written before).
- ``event_outbox.event_id`` stays: the batch's first event; ``last_event_id`` is its last one.
- ``event_outbox.event_types`` replaces ``event_type``: the batch's distinct types, comma-separated.
- ``ix_event_outbox_endpoint`` carries ``event_count`` too, so the deliverer sizes a POST from the
  index alone.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None

_INDEX = "ix_event_outbox_endpoint"


def upgrade() -> None:
    # Plain ADD COLUMN (see 0012): a batch would copy the table without its AUTOINCREMENT.
    op.add_column("event_outbox", sa.Column("event_count", sa.Integer(), server_default="1", nullable=False))
    op.add_column("event_outbox", sa.Column("last_event_id", sa.String(length=40), server_default="", nullable=False))
    op.add_column("event_outbox", sa.Column("event_types", sa.Text(), server_default="", nullable=False))
    # A row holds one event, unless it went through 0020's downgrade: count its envelopes' starts
    # (orjson's, and json.dumps's of the first versions), so a POST never exceeds its 200 events.
    larger = "greatest" if op.get_bind().dialect.name == "postgresql" else "max"
    count = " + ".join(f"(length(payload) - length(replace(payload, '{start}', ''))) / {len(start)}"
                       for start in ('{"id":"evt_', '{"id": "evt_'))
    op.execute(f"UPDATE event_outbox SET last_event_id = event_id, event_types = event_type, "
               f"event_count = {larger}(1, {count})")
    op.execute("ALTER TABLE event_outbox DROP COLUMN event_type")
    op.drop_index(_INDEX, table_name="event_outbox")
    op.create_index(_INDEX, "event_outbox", ["endpoint_id", "status", "id", "event_count"], unique=False)


def downgrade() -> None:
    # A batch stays one row, with its first event's type: the code before delivers it whole (its
    # payloads are joined the same way). Upgraded again, it has its count back, its other types
    # and its last event's id not.
    op.drop_index(_INDEX, table_name="event_outbox")
    op.create_index(_INDEX, "event_outbox", ["endpoint_id", "status", "id"], unique=False)
    op.add_column("event_outbox", sa.Column("event_type", sa.String(length=40), server_default="", nullable=False))
    if op.get_bind().dialect.name == "postgresql":
        op.execute("UPDATE event_outbox SET event_type = left(split_part(event_types, ',', 1), 40)")
    else:
        op.execute("UPDATE event_outbox SET event_type = substr(event_types, 1, instr(event_types || ',', ',') - 1)")
    for column in ("event_types", "last_event_id", "event_count"):
        op.execute(f"ALTER TABLE event_outbox DROP COLUMN {column}")
