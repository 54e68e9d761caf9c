"""send windows in each contact's local time

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06 01:20:00

- ``campaigns.window_start`` / ``window_end`` ("HH:MM", local to each contact), ``window_weekdays``
  (JSON list of "mon".."sun"): all NULL for a campaign without a window.
- ``campaigns.window_end_action``: ``carry_on`` (the next day's window) or ``end``.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from herald.kit.types import JSONType

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMN: a batch would copy ``campaigns`` into a table without the AUTOINCREMENT of 0009.
    op.add_column("campaigns", sa.Column("window_start", sa.String(5), nullable=True))
    op.add_column("campaigns", sa.Column("window_end", sa.String(5), nullable=True))
    op.add_column("campaigns", sa.Column("window_weekdays", JSONType, nullable=True))
    op.add_column("campaigns", sa.Column("window_end_action", sa.String(8), server_default="carry_on",
                                         nullable=False))


def downgrade() -> None:
    # ALTER TABLE … DROP COLUMN: SQLite has it since 3.35; a batch would lose campaigns' AUTOINCREMENT.
    for column in ("window_end_action", "window_weekdays", "window_end", "window_start"):
        op.execute(f"ALTER TABLE campaigns DROP COLUMN {column}")
