"""Health and readiness probes."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text

from herald.kit import migrate
from herald.kit.deps import DatabaseDep

router = APIRouter(tags=["operations"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(database: DatabaseDep) -> JSONResponse:
    try:
        async with database.read_session() as session:
            await session.execute(text("SELECT 1"))
        current = await asyncio.to_thread(migrate.is_current, database.url)
    except Exception as exc:  # noqa: BLE001 - any failure means not ready
        return JSONResponse({"status": "unavailable", "reason": str(exc)[:200]}, status_code=503)
    if not current:
        return JSONResponse({"status": "unavailable", "reason": "migrations pending"}, status_code=503)
    return JSONResponse({"status": "ready"})
