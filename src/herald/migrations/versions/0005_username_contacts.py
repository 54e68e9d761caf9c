"""username contacts: a contact has a phone, a WhatsApp user id (BSUID), or both

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05 01:40:00

WhatsApp users who adopt a username may hide their phone from businesses; Meta then names them by
a business-scoped user id (BSUID) alone (docs/whatsapp.md, "Username users").

- ``contacts.phone`` and ``contacts.phone_raw`` become nullable.
- A check: every contact has a phone or a ``wa_user_id``.
- ``wa_user_id`` is unique per organization (it was a plain index): a username-only message must
  match one contact. Duplicates an older database may hold keep the id on the oldest contact.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "UPDATE contacts SET wa_user_id = NULL WHERE wa_user_id IS NOT NULL AND id NOT IN "
        "(SELECT min(id) FROM contacts WHERE wa_user_id IS NOT NULL GROUP BY org_id, wa_user_id)"
    )
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.alter_column("phone", existing_type=sa.String(length=20), nullable=True)
        batch_op.alter_column("phone_raw", existing_type=sa.String(length=64), nullable=True)
        batch_op.drop_index(batch_op.f("ix_contacts_wa_user_id"))
        batch_op.create_unique_constraint(batch_op.f("uq_contacts_org_id_wa_user_id"), ["org_id", "wa_user_id"])
        batch_op.create_check_constraint("phone_or_user_id", "phone IS NOT NULL OR wa_user_id IS NOT NULL")


def downgrade() -> None:
    # The older schema needs a phone on every contact: username-only contacts cannot be kept. Their
    # engagements go with them (no foreign key would); their campaign messages stay in the reports.
    op.execute("DELETE FROM engagements WHERE contact_id IN (SELECT id FROM contacts WHERE phone IS NULL)")
    op.execute("DELETE FROM contacts WHERE phone IS NULL")
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_contacts_phone_or_user_id"), type_="check")
        batch_op.drop_constraint(batch_op.f("uq_contacts_org_id_wa_user_id"), type_="unique")
        batch_op.create_index(batch_op.f("ix_contacts_wa_user_id"), ["wa_user_id"], unique=False)
        batch_op.alter_column("phone_raw", existing_type=sa.String(length=64), nullable=False)
        batch_op.alter_column("phone", existing_type=sa.String(length=20), nullable=False)
