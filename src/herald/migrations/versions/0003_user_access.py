"""user access: users.active; login throttling leaves the users table; sessions keyed by HMAC

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02 10:00:00

- ``users.active`` (default true): an inactive user cannot sign in.
- ``users.failed_logins`` and ``users.locked_until`` go: a lock per account let anyone lock any
  known email out; failed logins are now counted per client address and account in memory
  (``herald.web.login_throttle``).
- Every ``web_sessions`` row is deleted: their ids were SHA-256 digests of the cookie token and are
  now HMACs keyed by ``HERALD_SECRET_KEY``, so the old rows could never match again. Everyone signs
  in once more after the upgrade.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import herald.kit.types

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("DELETE FROM web_sessions")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("active", sa.Boolean(), server_default=sa.true(), nullable=False))
        batch_op.drop_column("failed_logins")
        batch_op.drop_column("locked_until")


def downgrade() -> None:
    op.execute("DELETE FROM web_sessions")
    # The older schema cannot say "inactive": those users get a password hash nothing matches, so
    # they still cannot sign in (reactivating them later needs a new password).
    op.execute("UPDATE users SET password_hash = '!inactive' WHERE NOT active")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("locked_until", herald.kit.types.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("failed_logins", sa.Integer(), server_default="0", nullable=False))
        batch_op.drop_column("active")
