"""verify-token digest on whatsapp_numbers; bot targets' answers no longer kept in last_error

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02 10:00:00

The digest is an HMAC under HERALD_SECRET_KEY of the decrypted verify token: a migration has
neither at hand, so existing rows start with NULL and are filled the first time Meta's handshake
finds no match (herald.numbers.service.verify_token_matches) or by `herald rotate-keys`.

Failed bot deliveries used to keep up to 200 characters of what the target answered, which every
viewer could read at /bot-deliveries; only the status line stays.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_ANSWERED = "the bot flow answered HTTP "


def upgrade() -> None:
    with op.batch_alter_table("whatsapp_numbers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("verify_token_digest", sa.String(length=80), nullable=True))
        batch_op.create_index(batch_op.f("ix_whatsapp_numbers_verify_token_digest"), ["verify_token_digest"])
    deliveries = sa.table("bot_deliveries", sa.column("id", sa.BigInteger), sa.column("last_error", sa.String))
    bind = op.get_bind()
    rows = bind.execute(
        sa.select(deliveries.c.id, deliveries.c.last_error).where(deliveries.c.last_error.like(f"{_ANSWERED}%: %"))
    ).all()
    for row_id, last_error in rows:
        status_line = last_error.split(":", 1)[0]
        bind.execute(sa.update(deliveries).where(deliveries.c.id == row_id).values(last_error=status_line))


def downgrade() -> None:
    with op.batch_alter_table("whatsapp_numbers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_whatsapp_numbers_verify_token_digest"))
        batch_op.drop_column("verify_token_digest")
