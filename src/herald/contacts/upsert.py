"""Bulk upserts of contacts, tags and valued tags: the CSV import's write path on SQLite, also
used by ``POST /contacts?upsert=true`` on both databases. The import on PostgreSQL goes through
``herald.contacts.copy_upsert``, which follows the same rules set-based from a COPY.

Core statements only (no ORM objects), executed as executemany so SQLAlchemy's
"insertmanyvalues" packs them into multi-row INSERTs within each driver's parameter limit.
PostgreSQL and SQLite both speak ``INSERT … ON CONFLICT``; they differ in telling a created
row from an updated one, hence one contact-upsert function per dialect.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Table, func, literal_column, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from herald.kit.types import utcnow
from herald.models import Contact, ContactTag, ContactValuedTag, Tag

contacts: Table = Contact.__table__  # type: ignore[assignment]
tags: Table = Tag.__table__  # type: ignore[assignment]
contact_tags: Table = ContactTag.__table__  # type: ignore[assignment]
contact_valued_tags: Table = ContactValuedTag.__table__  # type: ignore[assignment]

# Keeps every IN (…) list well under SQLite's 32,766 bound parameters.
IN_CHUNK = 1000


@dataclass(slots=True)
class ContactRow:
    """One contact to upsert: None / empty means "not given, keep what is stored".

    The bulk functions below take rows with a phone and no ``wa_user_id``; a row with a user id
    goes through ``herald.contacts.identity`` (a contact may have no phone)."""

    phone: str | None
    phone_raw: str | None
    name: str | None = None
    timezone: str | None = None
    locale: str | None = None
    tags: list[str] = field(default_factory=list)
    valued_tags: dict[str, str] = field(default_factory=dict)
    wa_user_id: str | None = None

    @property
    def key(self) -> str:
        """The phone of a row the bulk functions take."""
        assert self.phone is not None, "a bulk upsert row has a phone"
        return self.phone


@dataclass(frozen=True, slots=True)
class UpsertedContact:
    id: int
    created: bool


def _insert(session: AsyncSession, table: Table) -> Any:
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def _contact_upsert(session: AsyncSession) -> Any:
    stmt = _insert(session, contacts)
    excluded = stmt.excluded
    # A value not given (NULL) keeps the stored one; the raw phone stays the one first seen.
    return stmt.on_conflict_do_update(
        index_elements=[contacts.c.org_id, contacts.c.phone],
        set_={
            "name": func.coalesce(excluded.name, contacts.c.name),
            "timezone": func.coalesce(excluded.timezone, contacts.c.timezone),
            "locale": func.coalesce(excluded.locale, contacts.c.locale),
            "updated_at": excluded.updated_at,
        },
    )


def _contact_params(org_id: int, rows: Sequence[ContactRow]) -> list[dict[str, Any]]:
    now = utcnow()
    return [
        {
            "org_id": org_id, "phone": r.phone, "phone_raw": r.phone_raw, "name": r.name,
            "timezone": r.timezone, "locale": r.locale, "created_at": now, "updated_at": now,
        }
        for r in rows
    ]


async def upsert_contacts(
    session: AsyncSession, *, org_id: int, rows: Sequence[ContactRow]
) -> dict[str, UpsertedContact]:
    """Insert or update contacts by (org, phone); phones must be unique within ``rows``. → phone → id."""
    if not rows:
        return {}
    # Same lock order in every transaction, so two PostgreSQL imports cannot deadlock each other.
    ordered = sorted(rows, key=lambda r: r.key)
    if session.get_bind().dialect.name == "postgresql":
        return await _upsert_contacts_postgresql(session, org_id=org_id, rows=ordered)
    return await _upsert_contacts_sqlite(session, org_id=org_id, rows=ordered)


async def _upsert_contacts_postgresql(
    session: AsyncSession, *, org_id: int, rows: Sequence[ContactRow]
) -> dict[str, UpsertedContact]:
    # xmax is 0 on a row version this statement inserted and non-zero on one it updated:
    # the one reliable "created?" flag of ON CONFLICT DO UPDATE, race-free under concurrency.
    stmt = _contact_upsert(session).returning(
        contacts.c.id, contacts.c.phone, literal_column("(xmax = 0)").label("created")
    )
    result = await session.execute(stmt, _contact_params(org_id, rows))
    return {phone: UpsertedContact(id=id_, created=bool(created)) for id_, phone, created in result}


async def _upsert_contacts_sqlite(
    session: AsyncSession, *, org_id: int, rows: Sequence[ContactRow]
) -> dict[str, UpsertedContact]:
    # SQLite has no xmax. Every write transaction here is BEGIN IMMEDIATE, so no other writer can
    # insert between this look-up and the upsert: the phones found now are exactly the updates.
    existing = await _existing_phones(session, org_id=org_id, phones=[r.key for r in rows])
    stmt = _contact_upsert(session).returning(contacts.c.id, contacts.c.phone)
    result = await session.execute(stmt, _contact_params(org_id, rows))
    return {phone: UpsertedContact(id=id_, created=phone not in existing) for id_, phone in result}


async def _existing_phones(session: AsyncSession, *, org_id: int, phones: Sequence[str]) -> set[str]:
    found: set[str] = set()
    for start in range(0, len(phones), IN_CHUNK):
        chunk = phones[start : start + IN_CHUNK]
        query = select(contacts.c.phone).where(contacts.c.org_id == org_id, contacts.c.phone.in_(chunk))
        found.update((await session.execute(query)).scalars())
    return found


async def ensure_tags(session: AsyncSession, *, org_id: int, names: Collection[str]) -> dict[str, int]:
    """Create the tags that do not exist yet; → name → tag id for every name given."""
    if not names:
        return {}
    ordered = sorted(names)
    stmt = _insert(session, tags).on_conflict_do_nothing(index_elements=[tags.c.org_id, tags.c.name])
    await session.execute(stmt, [{"org_id": org_id, "name": n} for n in ordered])
    ids: dict[str, int] = {}
    for start in range(0, len(ordered), IN_CHUNK):
        chunk = ordered[start : start + IN_CHUNK]
        query = select(tags.c.name, tags.c.id).where(tags.c.org_id == org_id, tags.c.name.in_(chunk))
        ids.update({name: id_ for name, id_ in await session.execute(query)})
    return ids


async def add_contact_tags(session: AsyncSession, *, pairs: Collection[tuple[int, int]]) -> None:
    """Attach (contact id, tag id) pairs; those already there are left alone."""
    if not pairs:
        return
    stmt = _insert(session, contact_tags).on_conflict_do_nothing(
        index_elements=[contact_tags.c.tag_id, contact_tags.c.contact_id]
    )
    await session.execute(stmt, [{"contact_id": c, "tag_id": t} for c, t in sorted(pairs)])


async def set_valued_tags(
    session: AsyncSession, *, org_id: int, values: Collection[tuple[int, str, str]]
) -> None:
    """Write (contact id, key, value) triples, overwriting the value of a key already there."""
    if not values:
        return
    stmt = _insert(session, contact_valued_tags)
    stmt = stmt.on_conflict_do_update(
        index_elements=[contact_valued_tags.c.contact_id, contact_valued_tags.c.key],
        set_={"value": stmt.excluded.value},
    )
    params = [{"contact_id": c, "key": k, "value": v, "org_id": org_id} for c, k, v in sorted(values)]
    await session.execute(stmt, params)


async def upsert_contact_rows(
    session: AsyncSession, *, org_id: int, rows: Sequence[ContactRow]
) -> dict[str, UpsertedContact]:
    """Upsert contacts with their tags (added) and valued tags (overwritten per key)."""
    upserted = await upsert_contacts(session, org_id=org_id, rows=rows)
    tag_ids = await ensure_tags(session, org_id=org_id, names={t for r in rows for t in r.tags})
    await add_contact_tags(
        session, pairs={(upserted[r.key].id, tag_ids[t]) for r in rows for t in r.tags}
    )
    await set_valued_tags(
        session,
        org_id=org_id,
        values=[(upserted[r.key].id, k, v) for r in rows for k, v in r.valued_tags.items()],
    )
    return upserted
