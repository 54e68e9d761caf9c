"""the Replies pages: each bot delivery names the inbound message it forwards

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05 22:10:00

- ``bot_deliveries.inbound_message_id``: the message a delivery forwards, so the Replies pages show
  each message's delivery (status, attempts, last error). Deliveries made before this revision are
  linked from the message id their body carries (``message.id``, the wamid).
- ``ix_inbound_messages_org_newest`` / ``ix_inbound_messages_campaign_newest``: the Replies pages
  list an organization's or a campaign's messages newest first.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("bot_deliveries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("inbound_message_id", sa.BigInteger(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_bot_deliveries_inbound_message_id_inbound_messages"), "inbound_messages",
            ["inbound_message_id"], ["id"], ondelete="SET NULL",
        )
        batch_op.create_index(batch_op.f("ix_bot_deliveries_inbound_message_id"), ["inbound_message_id"])
    op.create_index("ix_inbound_messages_org_newest", "inbound_messages", ["org_id", "id"])
    op.create_index("ix_inbound_messages_campaign_newest", "inbound_messages", ["campaign_id", "id"])
    # The body is the JSON a bot received; its message.id is the wamid stored with the message.
    if op.get_bind().dialect.name == "postgresql":
        wamid = "(bot_deliveries.body::jsonb -> 'message' ->> 'id')"
    else:
        wamid = "json_extract(bot_deliveries.body, '$.message.id')"
    op.execute(
        "UPDATE bot_deliveries SET inbound_message_id = (SELECT inbound_messages.id FROM inbound_messages "
        f"WHERE inbound_messages.wamid = {wamid}) WHERE inbound_message_id IS NULL"
    )


def downgrade() -> None:
    op.drop_index("ix_inbound_messages_campaign_newest", table_name="inbound_messages")
    op.drop_index("ix_inbound_messages_org_newest", table_name="inbound_messages")
    with op.batch_alter_table("bot_deliveries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_bot_deliveries_inbound_message_id"))
        batch_op.drop_constraint(batch_op.f("fk_bot_deliveries_inbound_message_id_inbound_messages"), type_="foreignkey")
        batch_op.drop_column("inbound_message_id")
