"""Every router of the application, mounted in one place."""

from __future__ import annotations

import re

from fastapi import APIRouter, Depends, FastAPI, Request

from herald.auth.api import router as auth_router
from herald.botflows.api import router as bot_flows_router
from herald.campaigns.api import router as campaigns_router
from herald.contacts.api import router as contacts_router
from herald.events.api import router as event_endpoints_router
from herald.inbox.api import router as inbox_router
from herald.kit.errors import NotFound
from herald.media.api import router as media_router
from herald.numbers.api import router as numbers_router
from herald.ops.api import router as ops_router
from herald.pricing.api import router as rate_card_router
from herald.replies.api import router as replies_router
from herald.replies.settings_api import router as settings_router
from herald.reports.api import router as reports_router
from herald.templates.api import router as templates_router
from herald.web import install_web
from herald.webhooks.api import router as webhooks_router

API_PREFIX = "/api/v1"
INTEGER_ID = re.compile(r"[+-]?[0-9]+")


def ids_in_range(request: Request) -> None:
    """404 for a path id no row can have: SQLite cannot even bind an integer past 64 bits (500)."""
    for name, value in request.path_params.items():
        if name.endswith("id") and isinstance(value, str) and INTEGER_ID.fullmatch(value.strip()):
            if not -(2**63) <= int(value) < 2**63:
                raise NotFound(f"{name.removesuffix('_id').replace('_', ' ')} not found")


def include_routers(app: FastAPI) -> None:
    api = APIRouter(prefix=API_PREFIX, dependencies=[Depends(ids_in_range)])
    for router in (
        auth_router, numbers_router, templates_router, media_router, bot_flows_router, contacts_router, inbox_router,
        campaigns_router, replies_router, reports_router, settings_router, rate_card_router, event_endpoints_router,
    ):
        api.include_router(router)
    app.include_router(api)
    app.include_router(ops_router)
    app.include_router(webhooks_router)
    install_web(app)
