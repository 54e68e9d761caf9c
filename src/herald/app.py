"""The ASGI application: API, webhooks, UI, and (embedded mode) the worker in the same lifespan."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import timedelta
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import DataError, DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

from herald import __version__
from herald.api import API_PREFIX, include_routers
from herald.config import Settings, get_settings
from herald.dispatch import embedded
from herald.dispatch.worker import Worker
from herald.kit import migrate
from herald.kit.body_limit import MB, MULTIPART_OVERHEAD_BYTES, BodyLimit, BodyRoute
from herald.kit.crypto import SecretBox
from herald.kit.db import Database
from herald.kit.db_errors import unavailability
from herald.kit.errors import DatabaseUnavailable, HeraldError
from herald.kit.outbound import OutboundPolicy
from herald.media.limits import MAX_MEDIA_BYTES
from herald.ops import logs
from herald.ops.metrics import WebhookMetrics
from herald.ops.metrics import router as metrics_router
from herald.reports.hub import StatsHub, database_reader
from herald.web import headers as security_headers
from herald.webhooks.ingest import MAX_BODY_BYTES as WEBHOOK_MAX_BYTES
from herald.whatsapp import CloudAPIClient

log = logging.getLogger("herald")


def freeze_startup_heap() -> None:
    """The objects alive once the app is up (modules, routes, mappers, most of the heap) never become
    garbage, yet every full collection walked them, pausing the whole event loop for up to a second
    under webhook load (every answer waiting). Frozen,
    collections walk only what was allocated since. Once per process, after a collection, so no
    garbage is kept."""
    global _heap_frozen
    if not _heap_frozen:
        gc.collect()
        gc.freeze()
        _heap_frozen = True


_heap_frozen = False


def _error(status: int, code: str, message: str, details: Any = None) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message, "details": details}}, status_code=status)


def _field_name(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or "body"


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(HeraldError)
    async def herald_error(_: Request, exc: HeraldError) -> JSONResponse:
        return JSONResponse(exc.body(), status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        details = [{"field": _field_name(tuple(e["loc"])), "message": e["msg"]} for e in exc.errors()]
        names = ", ".join(sorted({d["field"] for d in details}))
        return _error(422, "validation_error", f"invalid input: {names}", details)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed", 401: "unauthorized"}.get(exc.status_code, "http_error")
        return _error(exc.status_code, code, str(exc.detail))

    @app.exception_handler(DataError)
    @app.exception_handler(OverflowError)
    async def unstorable_value(_: Request, exc: Exception) -> JSONResponse:
        # Input the schema let through but the database cannot hold: an integer id past 64 bits
        # (SQLite's OverflowError, PostgreSQL's "bigint out of range"), a NUL character in text.
        return _error(422, "invalid_value", "a value is out of range or cannot be stored (an id too large, or a NUL character)")

    @app.exception_handler(DBAPIError)
    @app.exception_handler(PoolTimeout)
    async def database_error(request: Request, exc: Exception) -> Response:
        """503 when the database is down, unreachable or read-only (the client may retry); any other
        database error is a bug: a 500, as below. Rendered as every domain error is (a page under
        ``/ui``, JSON elsewhere); the driver's words go to the log only."""
        reason = unavailability(exc)
        if reason is None:
            return internal_error(exc, request)
        log.warning("%s: %s", reason.value, getattr(exc, "orig", None) or exc)
        render = request.app.exception_handlers[HeraldError]
        response: Response = await render(request, DatabaseUnavailable(DATABASE_UNAVAILABLE))
        return response

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        return internal_error(exc, request)


DATABASE_UNAVAILABLE = "Herald cannot use its database right now; try again in a moment."


def internal_error(exc: Exception, request: Request) -> JSONResponse:
    log.exception("unhandled error", exc_info=exc)
    response = _error(500, "internal_error", "something went wrong on our side; it has been logged")
    # Starlette answers the last-resort 500 from outside every middleware: the security headers are added here.
    response.headers.update(security_headers.headers_for(request.url.path))
    return response


def configure_logging(settings: Settings) -> None:
    """Text lines, or one JSON object per line with ``HERALD_LOG_JSON=true`` (see ``herald.ops.logs``)."""
    logs.configure(level=settings.log_level, json=settings.log_json)


def create_app(settings: Settings | None = None, database: Database | None = None, *,
               worker: bool | None = None) -> FastAPI:
    """The application. Given a ``database``, the app uses it and leaves it open at shutdown; else it
    connects to ``settings.database_url`` (migrating an SQLite database first). ``worker`` runs the
    worker in this process (``herald serve --worker/--no-worker``); None leaves it to
    ``settings.embedded_worker`` (``HERALD_EMBEDDED_WORKER``, on by default on SQLite)."""
    settings = settings or get_settings()
    run_worker = settings.embedded_worker if worker is None else worker

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        """Creates the process's shared resources in order; the stack closes them in reverse."""
        async with AsyncExitStack() as resources:
            if database is None:
                if settings.is_sqlite:
                    await asyncio.to_thread(migrate.upgrade, settings.database_url)
                app.state.database = Database.connect(settings.database_url)
                resources.push_async_callback(app.state.database.dispose)
            app.state.webhook_wakeup = asyncio.Event()
            # The one Cloud API client: the routes that call WhatsApp and the embedded worker share it.
            app.state.cloud_client = await resources.enter_async_context(CloudAPIClient(outbound=app.state.outbound))
            app.state.stats_hub = StatsHub(database_reader(app.state.database))
            resources.push_async_callback(app.state.stats_hub.close)
            if run_worker:
                app.state.worker = Worker(
                    database=app.state.database, box=app.state.secret_box, outbound=app.state.outbound,
                    client=app.state.cloud_client, webhook_wakeup=app.state.webhook_wakeup,
                    send_lease=timedelta(seconds=settings.send_lease_seconds),
                )
                await resources.enter_async_context(embedded.running(app.state.worker))
                # A pause, an end, a start or a resume through this process's API reaches its senders at once.
                app.state.campaigns_changed = app.state.worker.campaigns_changed
            freeze_startup_heap()
            yield

    app = FastAPI(
        title="Herald",
        version=__version__,
        description="WhatsApp campaigns with an exact record of every message.",
        lifespan=lifespan,
        openapi_url="/openapi.json",
        docs_url="/docs",
    )
    app.state.settings = settings
    app.state.secret_box = SecretBox(settings.encryption_keys)
    app.state.outbound = OutboundPolicy(allow_private_urls=settings.allow_private_urls)
    if database is not None:
        app.state.database = database
    install_error_handlers(app)
    include_routers(app)
    app.include_router(metrics_router)  # outside /api/v1 and unauthenticated: restrict it at the proxy
    app.add_middleware(BodyLimit, default=MB, routes=body_routes(settings))
    app.add_middleware(WebhookMetrics)  # counts the webhooks' 413s too
    app.add_middleware(security_headers.SecurityHeaders)  # added last, so outermost: every answer gets them
    return app


def body_routes(settings: Settings) -> list[BodyRoute]:
    """The routes whose bodies may be larger than the 1 MiB every other request gets (JSON API
    calls, UI forms): Meta's webhooks, and the uploads, at their documented maxima plus room for
    the multipart envelope. A request is counted and cut off at its limit as it streams in."""

    def csv_upload() -> int:  # read at each request: the setting may change under a running app (tests)
        return settings.max_upload_bytes + MULTIPART_OVERHEAD_BYTES

    media_upload = MAX_MEDIA_BYTES + MULTIPART_OVERHEAD_BYTES
    return [
        BodyRoute("POST", "/webhooks/whatsapp", WEBHOOK_MAX_BYTES),
        BodyRoute("POST", f"{API_PREFIX}/contacts/import", csv_upload),
        BodyRoute("POST", "/ui/contacts/import", csv_upload),
        BodyRoute("POST", f"{API_PREFIX}/whatsapp-numbers/{{number_id}}/media", media_upload),
        BodyRoute("POST", "/ui/campaigns/{campaign_id}/media", media_upload),
    ]
