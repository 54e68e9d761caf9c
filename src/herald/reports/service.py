"""Campaign stats and timeline: the functions the API, the SSE hub and the UI pages call."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from herald.kit.errors import NotFound
from herald.kit.types import utcnow
from herald.pricing import rates as pricing_rates
from herald.quality import breaker
from herald.quality.breaker import Tally
from herald.reports import repository
from herald.reports.latency import latency_percentiles
from herald.reports.schemas import (
    BreakerOut,
    CampaignStatsOut,
    CostOut,
    GaugeOut,
    Latencies,
    Latency,
    SendMinute,
    TimelineOut,
)


def percent(part: int, whole: int) -> float:
    """0–100 with one decimal; 0 when there is nothing to divide by."""
    if whole <= 0:
        return 0.0
    return round(100.0 * part / whole, 1)


def rates(counts: dict[str, int]) -> dict[str, float]:
    """received / sent, read / received, replied / received (docs/architecture.md, "Stats")."""
    return {
        "received_pct": percent(counts["received"], counts["sent"]),
        "read_pct": percent(counts["read"], counts["received"]),
        "replied_pct": percent(counts["replied"], counts["received"]),
    }


async def get_stats(session: AsyncSession, *, org_id: int, campaign_id: int) -> CampaignStatsOut:
    """The contract's stats body from the counter rows (two reads whatever the size). NotFound across orgs."""
    stats = await _stats(session, campaign_id=campaign_id, org_id=org_id)
    if stats is None:
        raise NotFound("campaign not found", code="campaign_not_found")
    return stats


async def stats_of(session: AsyncSession, *, campaign_id: int) -> CampaignStatsOut | None:
    """The same body without the org check (the caller checked it); None once the campaign is gone."""
    return await _stats(session, campaign_id=campaign_id, org_id=None)


async def _stats(session: AsyncSession, *, campaign_id: int, org_id: int | None) -> CampaignStatsOut | None:
    counts = await repository.counters(session, campaign_id=campaign_id, org_id=org_id)
    if counts is None:
        return None
    reasons = await repository.not_sent_reasons(session, campaign_id=campaign_id) if counts["not_sent"] else {}
    waiting: dict[str, int] = {}
    next_send_at = None
    if counts["pending"]:
        waiting, next_send_at = await repository.waiting(session, campaign_id=campaign_id, now=utcnow())
    return CampaignStatsOut(
        **counts, **rates(counts),
        not_sent_reasons=reasons,
        waiting=sum(waiting.values()), waiting_reasons=waiting, next_send_at=next_send_at,
        cost=await cost_of(session, campaign_id=campaign_id),
        breaker=await breaker_of(session, campaign_id=campaign_id),
    )


async def breaker_of(session: AsyncSession, *, campaign_id: int) -> BreakerOut | None:
    """The quality circuit breaker's gauges: its window now, as the engine reads it before a claim."""
    found = await repository.quality(session, campaign_id=campaign_id)
    if found is None:
        return None
    stored, totals, marks = found
    settings = breaker.settings_of(stored)
    window, _ = breaker.window_of(Tally.of(totals), [Tally.of(m) for m in marks or []], settings.window)
    gauges = [
        GaugeOut(rule=r.rule, label=breaker.LABELS[r.rule], value=r.value, threshold=r.threshold,
                 unit="count" if r.rule == "block_signals" else "%", judged=r.judged,
                 tripped=settings.enabled and r.tripped)
        for r in breaker.readings(settings, window)
    ]
    return BreakerOut(enabled=settings.enabled, window=settings.window, min_sends=settings.min_sends,
                      window_sends=window.sends, number_quality=settings.number_quality,
                      template_quality=settings.template_quality, gauges=gauges)


async def cost_of(session: AsyncSession, *, campaign_id: int) -> CostOut | None:
    found = await repository.costs(session, campaign_id=campaign_id)
    if found is None:
        return None
    org_id, actual, committed, budget = found
    card = await pricing_rates.card_of(session, org_id=org_id)
    used = round(100.0 * committed / budget, 1) if budget else None
    return CostOut(currency=card.currency, actual=round(actual, 6), committed=round(committed, 6),
                   budget=budget, budget_used_pct=used)


async def require_campaign(session: AsyncSession, *, org_id: int, campaign_id: int) -> None:
    """NotFound unless the campaign exists in this org (one primary-key read)."""
    if await repository.counters(session, campaign_id=campaign_id, org_id=org_id) is None:
        raise NotFound("campaign not found", code="campaign_not_found")


async def get_timeline(session: AsyncSession, *, org_id: int, campaign_id: int) -> TimelineOut:
    """Sends per minute (from the counters) and latency percentiles (a scan of the messages)."""
    await require_campaign(session, org_id=org_id, campaign_id=campaign_id)
    minutes = await repository.send_minutes(session, campaign_id=campaign_id)
    percentiles = await latency_percentiles(session, campaign_id=campaign_id)
    return TimelineOut(
        sends_per_minute=[
            SendMinute(minute=datetime.fromtimestamp(minute * 60, UTC), count=count) for minute, count in minutes
        ],
        latency=Latencies(**{
            event: Latency(p50_s=p.p50_s, p90_s=p.p90_s, n=p.n) for event, p in percentiles.items()
        }),
    )
