"""CSV import: stream a file through ``ContactCsvReader`` and upsert it in committed batches.

Used by ``POST /contacts/import``, ``herald contacts import`` and the benchmark. Each batch is its
own transaction, so a million-row file never holds one giant transaction (nor, on SQLite, the
write lock for minutes); a failure part-way keeps the batches already committed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession

from herald.contacts.copy_upsert import copy_upsert_contact_rows
from herald.contacts.csv_reader import ContactCsvReader, Duplicate, ReadableLines, Rejection, RowBatch
from herald.contacts.identity import IdentityConflict, upsert_identified
from herald.contacts.schemas import ImportDuplicate, ImportRejection, ImportResult
from herald.contacts.upsert import ContactRow, upsert_contact_rows
from herald.kit.db import Database

BATCH_ROWS = 2000
# Fewer, larger COPY batches: each costs a staging table and four statements.
POSTGRESQL_BATCH_ROWS = 10_000
MAX_REJECTIONS_LISTED = 1000

Progress = Callable[[int], None]


@dataclass(slots=True)
class _Tally:
    imported: int = 0
    updated: int = 0
    rejected_count: int = 0
    rejected: list[Rejection] = field(default_factory=list)
    duplicate_count: int = 0
    duplicates: list[Duplicate] = field(default_factory=list)

    def reject(self, rejections: list[Rejection]) -> None:
        self.rejected_count += len(rejections)
        room = MAX_REJECTIONS_LISTED - len(self.rejected)
        self.rejected.extend(rejections[: max(room, 0)])

    def repeat(self, duplicates: list[Duplicate]) -> None:
        self.duplicate_count += len(duplicates)
        room = MAX_REJECTIONS_LISTED - len(self.duplicates)
        self.duplicates.extend(duplicates[: max(room, 0)])

    def result(self) -> ImportResult:
        return ImportResult(
            imported=self.imported,
            updated=self.updated,
            rejected=[ImportRejection(line=r.line, reason=r.reason) for r in self.rejected],
            rejected_count=self.rejected_count,
            duplicates=[ImportDuplicate(line=d.line, duplicate_of=d.first_line) for d in self.duplicates],
            duplicate_count=self.duplicate_count,
        )


def merge_by_phone(rows: list[ContactRow]) -> list[ContactRow]:
    """One row per phone, later rows upserting earlier ones exactly as they would in the database.

    A single INSERT … ON CONFLICT DO UPDATE may not touch the same row twice (PostgreSQL refuses).
    """
    if len({row.key for row in rows}) == len(rows):
        return rows  # the usual file: nothing to merge, no need to copy the rows
    merged: dict[str, ContactRow] = {}
    for row in rows:
        first = merged.get(row.key)
        if first is None:
            merged[row.key] = ContactRow(
                phone=row.phone, phone_raw=row.phone_raw, name=row.name, timezone=row.timezone,
                locale=row.locale, tags=list(row.tags), valued_tags=dict(row.valued_tags),
            )
            continue
        first.name = row.name or first.name
        first.timezone = row.timezone or first.timezone
        first.locale = row.locale or first.locale
        first.tags = list(dict.fromkeys(first.tags + row.tags))
        first.valued_tags.update(row.valued_tags)
    return list(merged.values())


async def _write(database: Database, *, org_id: int, batch: RowBatch, tally: _Tally) -> None:
    tally.reject(batch.rejections)
    tally.repeat(batch.duplicates)
    if not batch.rows:
        return
    if any(row.wa_user_id is not None for row in batch.rows):
        await _write_in_order(database, org_id=org_id, batch=batch, tally=tally)
        return
    rows = merge_by_phone(batch.rows)
    async with database.session() as session:
        if database.dialect == "postgresql":
            created = await copy_upsert_contact_rows(session, org_id=org_id, rows=rows)
        else:
            upserted = await upsert_contact_rows(session, org_id=org_id, rows=rows)
            created = sum(1 for u in upserted.values() if u.created)
    # Every valid row counts once: it created its contact, or updated one (maybe from this file).
    tally.imported += created
    tally.updated += len(batch.rows) - created


async def _write_in_order(database: Database, *, org_id: int, batch: RowBatch, tally: _Tally) -> None:
    """A batch with ``wa_user_id`` rows (docs/whatsapp.md, "Username users"): phone-only runs go in
    bulk, each row with a user id on its own, in file order, so later rows still win."""
    rejected: list[Rejection] = []
    async with database.session() as session:
        run: list[ContactRow] = []
        for row, line in zip(batch.rows, batch.lines, strict=True):
            if row.wa_user_id is None:
                run.append(row)
                continue
            await _write_run(session, org_id=org_id, rows=run, tally=tally)
            run = []
            upserted = await upsert_identified(session, org_id=org_id, row=row)
            if isinstance(upserted, IdentityConflict):
                rejected.append(Rejection(line, upserted.reason))
            elif upserted.created:
                tally.imported += 1
            else:
                tally.updated += 1
        await _write_run(session, org_id=org_id, rows=run, tally=tally)
    tally.reject(rejected)


async def _write_run(session: AsyncSession, *, org_id: int, rows: list[ContactRow], tally: _Tally) -> None:
    if not rows:
        return
    # The executemany path on both databases: COPY's staging table exists once per transaction.
    upserted = await upsert_contact_rows(session, org_id=org_id, rows=merge_by_phone(rows))
    created = sum(1 for u in upserted.values() if u.created)
    tally.imported += created
    tally.updated += len(rows) - created


async def import_contacts(
    database: Database,
    *,
    org_id: int,
    stream: ReadableLines,
    progress: Progress | None = None,
    batch_rows: int | None = None,
    parse_in_thread: bool = True,
) -> ImportResult:
    """Import a contacts CSV; a bad header raises ``Invalid`` before anything is written.

    Parsing takes ~20 µs of CPU a row (about half of it libphonenumber's validity check). On
    PostgreSQL the next batch is parsed in a worker thread while the current one is written: the
    write is then mostly the server's work (~40 µs a row, half of it foreign-key checks), on
    another core, and the wall time nears the larger of the two instead of their sum. On SQLite the write runs in this process (GIL) and overlapping was
    measured no faster, so batches alternate: parsed in a worker thread in a server, so the event
    loop (requests, the embedded worker's pacing) stays free, or inline when ``parse_in_thread``
    is False (the CLI: ~12% faster, without thread hand-offs).
    """
    postgresql = database.dialect == "postgresql"
    size = batch_rows or (POSTGRESQL_BATCH_ROWS if postgresql else BATCH_ROWS)
    reader = await asyncio.to_thread(ContactCsvReader, stream)
    tally = _Tally()
    if postgresql:
        await _import_overlapped(database, org_id=org_id, reader=reader, size=size, tally=tally, progress=progress)
        return tally.result()
    while True:
        if parse_in_thread:
            batch = await asyncio.to_thread(reader.next_batch, size)
        else:
            batch = reader.next_batch(size)
        await _write(database, org_id=org_id, batch=batch, tally=tally)
        if progress is not None:
            progress(batch.bytes_read)
        if batch.done:
            return tally.result()


async def _import_overlapped(
    database: Database, *, org_id: int, reader: ContactCsvReader, size: int, tally: _Tally,
    progress: Progress | None,
) -> None:
    batch = await asyncio.to_thread(reader.next_batch, size)
    while True:
        upcoming = None if batch.done else asyncio.ensure_future(asyncio.to_thread(reader.next_batch, size))
        try:
            await _write(database, org_id=org_id, batch=batch, tally=tally)
        except BaseException:
            if upcoming is not None:
                # The thread cannot be interrupted: let it finish with the stream before the
                # caller closes it.
                await asyncio.wait([upcoming])
            raise
        if progress is not None:
            progress(batch.bytes_read)
        if upcoming is None:
            return
        batch = await upcoming
