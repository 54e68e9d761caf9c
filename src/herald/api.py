"""Every router of the application, mounted in one place."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI

from herald.auth.api import router as auth_router
from herald.ops.api import router as ops_router

API_PREFIX = "/api/v1"


def include_routers(app: FastAPI) -> None:
    api = APIRouter(prefix=API_PREFIX)
    for router in (auth_router,):
        api.include_router(router)
    app.include_router(api)
    app.include_router(ops_router)
