"""``herald contacts import``: the CSV import from a file, with a progress bar by bytes read."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import BinaryIO

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from herald.auth import service as auth_service
from herald.config import Settings
from herald.contacts.importer import Progress as ProgressCallback
from herald.contacts.importer import import_contacts
from herald.contacts.schemas import ImportResult
from herald.kit import migrate
from herald.kit.db import Database


async def _import(settings: Settings, *, org_slug: str, stream: BinaryIO, progress: ProgressCallback) -> ImportResult:
    database = Database.connect(settings.database_url)
    try:
        async with database.read_session() as session:
            org = await auth_service.org_by_slug(session, slug=org_slug)
        return await import_contacts(
            database, org_id=org.id, stream=stream, progress=progress, parse_in_thread=False
        )
    finally:
        await database.dispose()


def import_file(path: Path, *, org_slug: str, settings: Settings, console: Console) -> ImportResult:
    """Import ``path`` into the organization, drawing the progress bar on ``console``."""
    if settings.is_sqlite:
        migrate.upgrade(settings.database_url)
    columns = (
        TextColumn("[bold]{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, transient=False) as bar, path.open("rb") as stream:
        task = bar.add_task(f"importing {path.name}", total=path.stat().st_size)
        result = asyncio.run(
            _import(settings, org_slug=org_slug, stream=stream, progress=lambda done: bar.update(task, completed=done))
        )
        bar.update(task, completed=path.stat().st_size)
    return result


def summary_lines(result: ImportResult) -> list[str]:
    """The summary, then one line per rejected row and per duplicate row (as many as the result lists)."""
    summary = f"imported {result.imported}, updated {result.updated}, rejected {result.rejected_count}"
    lines = [summary + (f", duplicates {result.duplicate_count}" if result.duplicate_count else "")]
    lines += [f"line {r.line}: {r.reason}" for r in result.rejected]
    if result.rejected_count > len(result.rejected):
        lines.append(f"… and {result.rejected_count - len(result.rejected)} more rejected rows")
    lines += [f"line {d.line}: duplicate of line {d.duplicate_of} (imported over it: later rows win)"
              for d in result.duplicates]
    if result.duplicate_count > len(result.duplicates):
        lines.append(f"… and {result.duplicate_count - len(result.duplicates)} more duplicate rows")
    return lines
