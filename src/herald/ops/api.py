"""Health and readiness probes."""

from __future__ import annotations

import asyncio
import logging

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text

from herald.kit import migrate
from herald.kit.db import Database
from herald.kit.db_errors import Unavailability, unavailability
from herald.kit.deps import DatabaseDep
from herald.kit.dialect import is_postgres

log = logging.getLogger("herald.ops")
router = APIRouter(tags=["operations"])

MIGRATIONS_PENDING = "migrations pending"


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(database: DatabaseDep) -> JSONResponse:
    """Ready when the database takes writes and its schema is current; else 503 with a ``reason`` of
    Herald's own words (the driver's error goes to the log: it may name hosts, users, paths)."""
    try:
        writable = await database_writable(database)
        current = await asyncio.to_thread(migrate.is_current, database.url)
    except Exception as exc:  # any failure means not ready
        reason = unavailability(exc) or Unavailability.unreachable
        log.warning("not ready: %s", reason.value, exc_info=exc)
        return _unavailable(reason.value)
    if not writable:
        log.warning("not ready: %s", Unavailability.read_only.value)
        return _unavailable(Unavailability.read_only.value)
    if not current:
        return _unavailable(MIGRATIONS_PENDING)
    return JSONResponse({"status": "ready"})


def _unavailable(reason: str) -> JSONResponse:
    return JSONResponse({"status": "unavailable", "reason": reason}, status_code=503)


async def database_writable(database: Database) -> bool:
    """Whether a write would be taken now, without writing anything.

    SQLite: a write transaction is begun (``BEGIN IMMEDIATE``, which takes the database's write lock:
    refused on a read-only file or connection) and rolled back; it queues behind this process's
    writers like any other. PostgreSQL: the server says whether it is a standby in recovery or
    makes transactions read-only (``default_transaction_read_only``).
    """
    async with database.session() as session:
        if is_postgres(session):
            row = (await session.execute(
                text("SELECT pg_is_in_recovery(), current_setting('transaction_read_only') = 'on'")
            )).one()
            await session.rollback()
            return not (row[0] or row[1])
        await session.execute(text("SELECT 1"))  # begins the transaction: BEGIN IMMEDIATE
        await session.rollback()
        return True
