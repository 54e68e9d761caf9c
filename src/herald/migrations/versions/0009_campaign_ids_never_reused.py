"""campaign ids are never reused on SQLite (AUTOINCREMENT)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05 02:20:00

A campaign's id is in its URLs, its report's file name and the API. SQLite's plain ``INTEGER
PRIMARY KEY`` hands the highest id out again once that row is deleted, so a deleted campaign's
bookmarks and reports would name the next one. ``AUTOINCREMENT`` makes SQLite keep the highest id
ever used (in ``sqlite_sequence``); SQLite cannot add it to a table in place, so the table is rebuilt
(copied, with its indexes and foreign keys). PostgreSQL's sequences never hand an id out twice:
nothing changes there.

An id deleted before this upgrade (higher than every remaining one) may still be handed out once.
"""

from __future__ import annotations

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    with op.batch_alter_table("campaigns", recreate="always", table_kwargs={"sqlite_autoincrement": True}):
        pass


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    with op.batch_alter_table("campaigns", recreate="always", table_kwargs={"sqlite_autoincrement": False}):
        pass
