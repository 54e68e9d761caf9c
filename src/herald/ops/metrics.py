"""Prometheus metrics at ``GET /metrics``.

Two kinds:

- counters and histograms kept in this process as things happen (sends, errors, latency, webhooks
  received, campaign transitions), in a registry of Herald's own rather than the global default, so
  building many apps in one process registers nothing twice;
- gauges read from the database at scrape time with a handful of cheap queries (the campaign
  counters table, partial or leading-column indexes), so any server of a fleet reports the same
  totals: messages by status, webhook backlog and lag, jobs, bot-flow deliveries, live workers.

A worker process (``herald worker``) has no HTTP server: its send counters live in its own process,
and ``HERALD_METRICS_PORT`` (see ``serve_worker_metrics``) exposes them.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from herald.kit.db import Database
from herald.kit.types import utcnow
from herald.models import BotDelivery, Campaign, CampaignStats, Job, WebhookEvent, WorkerHeartbeat
from herald.models.campaign_stats import STAT_FIELDS

REGISTRY = CollectorRegistry(auto_describe=True)

MESSAGES_SENT = Counter(
    "herald_messages_sent", "Sends WhatsApp accepted, per number (database id).", ["number"], registry=REGISTRY
)
SEND_ERRORS = Counter(
    "herald_send_errors", "Sends WhatsApp refused or that got no answer, per number and error code "
    "(Meta's code, else the HTTP status, else 'network').", ["number", "code"], registry=REGISTRY,
)
SEND_LATENCY = Histogram(
    "herald_send_latency_seconds", "Time of the HTTP call to the Cloud API, per number.", ["number"],
    buckets=(0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30), registry=REGISTRY,
)
SEND_OUTCOMES = Counter(
    "herald_send_outcomes", "Outcomes recorded for claimed messages: sent, retry, not_sent, unknown, released.",
    ["outcome"], registry=REGISTRY,
)
WEBHOOK_POSTS = Counter(
    "herald_webhook_posts", "Webhook POSTs from Meta by HTTP answer (200 stored; 401 bad signature or unknown "
    "number; 400 malformed; 5xx: Meta will retry).", ["code"], registry=REGISTRY,
)
WEBHOOK_POST_SECONDS = Histogram(
    "herald_webhook_post_seconds", "Time to verify and store one webhook POST before answering Meta.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5), registry=REGISTRY,
)
CAMPAIGN_TRANSITIONS = Counter(
    "herald_campaign_transitions", "Campaign state changes, per target state.", ["to"], registry=REGISTRY
)
BOT_DELIVERIES = Counter(
    "herald_bot_deliveries", "Bot-flow delivery attempts: delivered, retry or failed (given up).",
    ["result"], registry=REGISTRY,
)



def error_code(code: int | None, http_status: int | None) -> str:
    if code is not None:
        return str(code)
    if http_status is not None:
        return f"http_{http_status}"
    return "network"


async def database_gauges(session: AsyncSession) -> list[GaugeMetricFamily]:
    """The scrape-time gauges: a few aggregate queries, none of them over the message rows."""
    now = utcnow()
    families: list[GaugeMetricFamily] = []

    totals = (await session.execute(
        select(*(func.coalesce(func.sum(getattr(CampaignStats, f)), 0) for f in STAT_FIELDS))
    )).one()
    messages = GaugeMetricFamily(
        "herald_campaign_messages", "Campaign messages by status, summed over all campaigns (campaign counters; "
        "sent includes delivered and read; received, read and replied are subsets of sent).", labels=["status"],
    )
    for field, value in zip(STAT_FIELDS, totals, strict=True):
        messages.add_metric([field], float(value or 0))
    families.append(messages)

    campaigns = GaugeMetricFamily("herald_campaigns", "Campaigns by state.", labels=["status"])
    by_status = dict((await session.execute(
        select(Campaign.status, func.count()).group_by(Campaign.status)
    )).all())
    for status in ("draft", "ready", "scheduled", "active", "paused", "ended"):
        campaigns.add_metric([status], float(by_status.get(status, 0)))
    families.append(campaigns)

    backlog = (await session.execute(
        select(func.count()).select_from(WebhookEvent).where(WebhookEvent.applied_at.is_(None))
    )).scalar_one()
    oldest = (await session.execute(
        select(WebhookEvent.received_at).where(WebhookEvent.applied_at.is_(None)).order_by(WebhookEvent.id).limit(1)
    )).scalar_one_or_none()
    families.append(GaugeMetricFamily(
        "herald_webhook_backlog", "Webhook events stored but not applied yet.", value=float(backlog)
    ))
    families.append(GaugeMetricFamily(
        "herald_webhook_lag_seconds", "Age of the oldest webhook event not applied yet (0 when none).",
        value=max(0.0, (now - oldest).total_seconds()) if oldest else 0.0,
    ))

    jobs = dict((await session.execute(
        select(Job.status, func.count()).where(Job.status.in_(("pending", "running", "failed"))).group_by(Job.status)
    )).all())
    due = (await session.execute(
        select(func.count()).select_from(Job).where(Job.status == "pending", Job.run_at <= now)
    )).scalar_one()
    families.append(GaugeMetricFamily("herald_jobs_pending", "Background jobs due now and not started.", value=float(due)))
    families.append(GaugeMetricFamily(
        "herald_jobs_scheduled", "Background jobs waiting (due now or later, e.g. retries).",
        value=float(jobs.get("pending", 0)),
    ))
    families.append(GaugeMetricFamily("herald_jobs_running", "Background jobs running.", value=float(jobs.get("running", 0))))
    families.append(GaugeMetricFamily(
        "herald_jobs_failed", "Background jobs that failed for good.", value=float(jobs.get("failed", 0))
    ))

    deliveries = (await session.execute(
        select(func.count()).select_from(BotDelivery).where(BotDelivery.status == "pending")
    )).scalar_one()
    oldest_delivery = (await session.execute(
        select(func.min(BotDelivery.created_at)).where(BotDelivery.status == "pending")
    )).scalar_one_or_none()
    families.append(GaugeMetricFamily(
        "herald_bot_deliveries_pending", "Replies waiting to be forwarded to bot flows.", value=float(deliveries)
    ))
    families.append(GaugeMetricFamily(
        "herald_bot_delivery_lag_seconds", "Age of the oldest reply not yet forwarded to its bot flow (0 when none).",
        value=max(0.0, (now - oldest_delivery).total_seconds()) if oldest_delivery else 0.0,
    ))

    workers = (await session.execute(
        select(func.count()).select_from(WorkerHeartbeat).where(WorkerHeartbeat.seen_at >= now - timedelta(seconds=10))
    )).scalar_one()
    families.append(GaugeMetricFamily(
        "herald_workers_alive", "Workers that sent a heartbeat in the last 10 s.", value=float(workers)
    ))
    return families


class _Families(Collector):
    def __init__(self, families: Iterable[GaugeMetricFamily]) -> None:
        self.families = list(families)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        yield from self.families


async def render(database: Database | None) -> bytes:
    """The exposition text: this process's instruments, then the database gauges."""
    started = time.perf_counter()
    families: list[GaugeMetricFamily] = []
    up = 0.0
    if database is not None:
        try:
            async with database.read_session() as session:
                families = await database_gauges(session)
            up = 1.0
        except Exception:  # a scrape must answer even when the database is down
            families = []
    families.append(GaugeMetricFamily("herald_database_up", "1 when the scrape-time queries succeeded.", value=up))
    families.append(GaugeMetricFamily(
        "herald_metrics_scrape_seconds", "Time spent on the scrape-time database queries.",
        value=time.perf_counter() - started,
    ))
    scrape = CollectorRegistry(auto_describe=False)
    scrape.register(_Families(families))
    return generate_latest(REGISTRY) + generate_latest(scrape)


WEBHOOK_PATH = "/webhooks/whatsapp"


class WebhookMetrics:
    """ASGI middleware counting Meta's webhook POSTs by answer and timing them; other paths pass through."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"] != WEBHOOK_PATH or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        status = 500
        started = time.perf_counter()

        async def send_and_note(message: Any) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            WEBHOOK_POST_SECONDS.observe(time.perf_counter() - started)
            WEBHOOK_POSTS.labels(code=str(status)).inc()


router = APIRouter(tags=["operations"])


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    database = getattr(request.app.state, "database", None)
    return Response(await render(database), media_type=CONTENT_TYPE_LATEST)


def serve_worker_metrics(port: int, host: str = "0.0.0.0") -> None:  # a metrics port for scrapers
    """``herald worker`` with ``HERALD_METRICS_PORT``: this process's counters over plain HTTP.

    The database gauges come from the servers' ``/metrics``; a worker exposes only what it counts.
    """
    from prometheus_client import start_http_server

    start_http_server(port, addr=host, registry=REGISTRY)
