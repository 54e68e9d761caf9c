"""The lock that keeps deleting a contact and materialising an audience apart (PostgreSQL only).

Materialising chunks (``herald.dispatch.materialize``) hold it shared, contact deletion
(``herald.contacts.repository.delete_contact``) exclusively, each until its commit.
``campaign_messages`` and ``engagements`` have no foreign key to ``contacts`` (its per-row check was
most of a chunk's cost), so deletion removes a contact's rows itself; this lock keeps a chunk that
read the contact before the deletion from inserting rows for it after. SQLite needs none: its write
transactions are serial and see the latest data.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

# The first key of the PostgreSQL advisory lock; the second is the organization's id.
AUDIENCE_LOCK = 0x48524C44


async def hold_audience_lock(session: AsyncSession, *, org_id: int, exclusive: bool = False) -> None:
    """Takes the organization's audience lock until the transaction ends (PostgreSQL only)."""
    lock = "pg_advisory_xact_lock" if exclusive else "pg_advisory_xact_lock_shared"
    await session.execute(text(f"SELECT {lock}(:space, :org_id)"), {"space": AUDIENCE_LOCK, "org_id": org_id})
