"""The CSV import's write path on PostgreSQL: COPY a batch into a staging table, then upsert from it.

Sending thousands of rows as bound parameters costs more than the writes themselves: psycopg
parses a 16,000-placeholder statement in Python for the contacts, and the tag links (no
RETURNING) go row by row through its pipeline. ``COPY … FROM STDIN`` streams the batch in binary
instead; set-based ``INSERT … SELECT … ON CONFLICT`` statements then apply exactly the rules of
``herald.contacts.upsert`` (name/timezone/locale kept when not given, tags added, valued tags
overwritten per key). SQLite keeps ``upsert.upsert_contact_rows``: it has no COPY, and its
executemany is not where its time goes.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from herald.contacts.upsert import ContactRow
from herald.kit.types import utcnow

STAGE = "herald_import_stage"

# ON COMMIT DROP: the table lives for this batch's transaction only, so a pooled connection is
# handed back exactly as it was taken (also after a rollback).
_CREATE_STAGE = f"""
CREATE TEMPORARY TABLE {STAGE} (
    phone text NOT NULL,
    phone_raw text NOT NULL,
    name text,
    timezone text,
    locale text,
    tags text[] NOT NULL,
    valued_tag_keys text[] NOT NULL,
    valued_tag_values text[] NOT NULL
) ON COMMIT DROP
"""
_COPY_STAGE = (
    f"COPY {STAGE} (phone, phone_raw, name, timezone, locale, tags, valued_tag_keys, valued_tag_values)"
    " FROM STDIN (FORMAT BINARY)"
)
_STAGE_TYPES = ["text", "text", "text", "text", "text", "text[]", "text[]", "text[]"]

# Tags first, in name order (the lock order of every import), so the statement below finds them.
_INSERT_TAGS = text(f"""
INSERT INTO tags (org_id, name)
SELECT DISTINCT :org_id, tag.name FROM {STAGE} CROSS JOIN unnest({STAGE}.tags) AS tag(name)
ORDER BY tag.name
ON CONFLICT (org_id, name) DO NOTHING
""")

# One statement: the contacts upsert in phone order (the lock order of every import), then the
# links of the contacts it returned. xmax is 0 on a row version this statement inserted and
# non-zero on one it updated: the race-free "created?" flag of ON CONFLICT DO UPDATE.
_UPSERT = text(f"""
WITH upserted AS (
    INSERT INTO contacts AS c (org_id, phone, phone_raw, name, timezone, locale, created_at, updated_at)
    SELECT :org_id, s.phone, s.phone_raw, s.name, s.timezone, s.locale, :now, :now
    FROM {STAGE} AS s ORDER BY s.phone
    ON CONFLICT (org_id, phone) DO UPDATE SET
        name = coalesce(excluded.name, c.name),
        timezone = coalesce(excluded.timezone, c.timezone),
        locale = coalesce(excluded.locale, c.locale),
        updated_at = excluded.updated_at
    RETURNING c.id, c.phone, (c.xmax = 0) AS created
),
tagged AS (
    INSERT INTO contact_tags (contact_id, tag_id)
    SELECT u.id, t.id
    FROM upserted AS u
    JOIN {STAGE} AS s ON s.phone = u.phone
    CROSS JOIN unnest(s.tags) AS tag(name)
    JOIN tags AS t ON t.org_id = :org_id AND t.name = tag.name
    ORDER BY u.id, t.id
    ON CONFLICT (tag_id, contact_id) DO NOTHING
),
valued AS (
    INSERT INTO contact_valued_tags AS v (contact_id, key, org_id, value)
    SELECT u.id, kv.key, :org_id, kv.value
    FROM upserted AS u
    JOIN {STAGE} AS s ON s.phone = u.phone
    CROSS JOIN unnest(s.valued_tag_keys, s.valued_tag_values) AS kv(key, value)
    ORDER BY u.id, kv.key
    ON CONFLICT (contact_id, key) DO UPDATE SET value = excluded.value
)
SELECT count(*) FILTER (WHERE created) FROM upserted
""")


async def copy_upsert_contact_rows(session: AsyncSession, *, org_id: int, rows: Sequence[ContactRow]) -> int:
    """Upsert ``rows`` (one per phone) with their tags and valued tags; → how many were created."""
    if not rows:
        return 0
    await session.execute(text(_CREATE_STAGE))
    connection = await session.connection()
    driver = (await connection.get_raw_connection()).driver_connection
    assert driver is not None
    async with driver.cursor() as cursor, cursor.copy(_COPY_STAGE) as copy:
        copy.set_types(_STAGE_TYPES)
        for row in rows:
            await copy.write_row((
                row.phone, row.phone_raw, row.name, row.timezone, row.locale, row.tags,
                list(row.valued_tags), list(row.valued_tags.values()),
            ))
    await session.execute(_INSERT_TAGS, {"org_id": org_id})
    created = await session.scalar(_UPSERT, {"org_id": org_id, "now": utcnow()})
    return int(created or 0)
