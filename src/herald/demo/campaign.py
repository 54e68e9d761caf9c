"""``herald demo --run-campaign``: launch the welcome campaign, watch it live, print the outcome, export the CSV."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from herald.campaigns.lifecycle import RUNNING
from herald.demo import data, window
from herald.demo.api import Api, ApiError, DemoError
from herald.quality.breaker import figure

POLL_SECONDS = 0.5
# The funnel trails the sends (reads, replies, the bot's steps): done once nothing moved for this long.
SETTLE_SECONDS = 3.0
MAX_SETTLE_SECONDS = 30.0
MAX_RUN_SECONDS = 600.0
# The budget is set this much above the forecast: the demo shows a budget without reaching it.
BUDGET_HEADROOM = 1.2
COUNTERS = ("sent", "received", "read", "replied", "not_sent")
LABELS = {"sent": "sent", "received": "received", "read": "read", "replied": "replied", "not_sent": "not sent"}
STYLES = {"sent": "cyan", "received": "green", "read": "blue", "replied": "magenta", "not_sent": "red"}

Fetch = Callable[[], Awaitable[dict[str, Any]]]


@dataclass(frozen=True)
class Launch:
    """What the demo set on its campaign before starting it, for the console."""

    campaign: dict[str, Any]
    window: tuple[str, str]
    zones: dict[str, int]
    forecast: dict[str, Any] | None
    budget: float | None


async def create_and_start(api: Api, *, number_id: int, bot_flow_id: int, teaser_media_id: int,
                           contacts: int) -> Launch:
    """The welcome campaign with the features a manager would use on it: a send window open now in every
    contact's zone (``demo/window.py``), a 10 % holdout, two variants (the welcome text and the video
    teaser) and a budget above the forecast, so it runs to the end."""
    await _end_previous(api)
    zones = data.zones(contacts)
    start, end = window.open_window(zones, datetime.now(UTC))
    variables = {"1": {"source": "contact_name"}, "2": {"source": "valued_tag", "key": data.MEMBER_ID}}
    campaign = await api.post("/campaigns", {
        "name": "Welcome to the winter offer",
        "whatsapp_number_id": number_id,
        "audience": {"tags_any": [data.AUDIENCE_TAG]},
        "template": {"name": "welcome", "language": "en_US"},
        "variables": variables,
        # Variant B's video header: the welcome template has none, so A is sent without it.
        "header_media_id": teaser_media_id,
        "bot_flow_id": bot_flow_id,
        "window_start": start, "window_end": end,
        "holdout_percent": data.HOLDOUT_PERCENT,
        "variants": [{}, {"template": {"name": "winter_teaser", "language": "en_US"}, "variables": variables}],
    })
    if campaign["status"] != "ready":
        raise DemoError(f"the demo campaign is not ready, missing: {', '.join(campaign['missing'])}")
    preview = await api.post(f"/campaigns/{campaign['id']}/audience-preview", {})
    forecast = preview.get("cost")
    budget = None
    if forecast:
        budget = math.ceil(forecast["total"] * BUDGET_HEADROOM)
        await api.call("PATCH", f"/campaigns/{campaign['id']}", json={"budget": budget})
    started = await api.post(f"/campaigns/{campaign['id']}/start", {"rate_per_second": data.CAMPAIGN_RATE})
    return Launch(started, (start, end), zones, forecast, budget)


async def _end_previous(api: Api) -> None:
    """With ``--keep``, the last run's campaign is still active: its contacts would all be skipped
    as "already part of an active campaign", so it ends first."""
    for status in sorted(RUNNING):
        for campaign in (await api.get(f"/campaigns?status={status}&limit=100"))["items"]:
            await api.post(f"/campaigns/{campaign['id']}/end")


def _progress(console: Console) -> Progress:
    return Progress(
        TextColumn("{task.description:>10}"), BarColumn(bar_width=40), MofNCompleteColumn(),
        TextColumn("{task.fields[note]}"), TimeElapsedColumn(), console=console,
    )


def _note(name: str, stats: dict[str, Any]) -> str:
    pct = {"received": "received_pct", "read": "read_pct", "replied": "replied_pct"}.get(name)
    return f"{stats.get(pct, 0):5.1f}%" if pct else ""


async def watch(fetch: Fetch, console: Console, bot_replies: Callable[[], int]) -> dict[str, Any]:
    """Live bars until nothing is pending and the funnel has settled; returns the final stats.

    Settled: no counter moved for a while and every reply Herald counted has reached the bot.
    """
    started = time.monotonic()
    with _progress(console) as progress:
        tasks: dict[str, TaskID] = {
            name: progress.add_task(f"[{STYLES[name]}]{LABELS[name]}", total=None, note="") for name in COUNTERS
        }
        last: tuple[Any, ...] | None = None
        quiet_since = started
        done_since: float | None = None
        while True:
            stats = await fetch()
            for name, task in tasks.items():
                progress.update(task, completed=stats[name], total=stats["targeted"] or None,
                                note=_note(name, stats))
            now = time.monotonic()
            snapshot = tuple(stats[k] for k in ("pending", *COUNTERS, "unknown"))
            if snapshot != last:
                last, quiet_since = snapshot, now
            if stats["targeted"] and stats["pending"] == 0:
                done_since = done_since or now
                caught_up = bot_replies() >= stats["replied"]
                if (caught_up and now - quiet_since >= SETTLE_SECONDS) or now - done_since >= MAX_SETTLE_SECONDS:
                    return stats
            if now - started > MAX_RUN_SECONDS:
                raise DemoError(f"the demo campaign did not finish within {MAX_RUN_SECONDS:.0f} seconds")
            await asyncio.sleep(POLL_SECONDS)


def stats_table(stats: dict[str, Any], funnel: list[dict[str, Any]]) -> Table:
    table = Table(title="Campaign results", title_justify="left")
    table.add_column("", style="bold")
    table.add_column("contacts", justify="right")
    table.add_column("", justify="right")
    table.add_row("targeted", str(stats["targeted"]), "")
    if stats.get("holdout"):
        table.add_row("holdout", str(stats["holdout"]), "kept unsent")
    table.add_row("sent", str(stats["sent"]), "")
    table.add_row("received", str(stats["received"]), f"{stats['received_pct']:.1f}% of sent")
    table.add_row("read", str(stats["read"]), f"{stats['read_pct']:.1f}% of received")
    table.add_row("replied", str(stats["replied"]), f"{stats['replied_pct']:.1f}% of received")
    if stats.get("unknown"):
        table.add_row("unknown", str(stats["unknown"]), "")
    table.add_row("not sent", str(stats["not_sent"]), "")
    for reason, count in sorted(stats["not_sent_reasons"].items(), key=lambda item: -item[1]):
        table.add_row(f"  {reason}", str(count), "")
    for step in funnel:
        table.add_row(f"funnel: {step['step']}", str(step["contacts"]), "")
    return table


async def funnel_of(api: Api, campaign_id: int) -> list[dict[str, Any]]:
    try:
        return (await api.get(f"/campaigns/{campaign_id}/funnel"))["steps"]  # type: ignore[no-any-return]
    except ApiError:
        return []


async def export_csv(api: Api, campaign_id: int, directory: Path) -> Path:
    """Saves ``GET /campaigns/{id}/report.csv`` next to the demo database."""
    path = directory / f"campaign-{campaign_id}-report.csv"
    content = await api.get(f"/campaigns/{campaign_id}/report.csv")
    path.write_bytes(content if isinstance(content, bytes) else orjson.dumps(content))
    return path


async def record_organic_conversions(api: Api, campaign_id: int, count: int) -> int:
    """Simulated: the demo's shop reports the purchases it would have had without the campaign, for
    messaged and held-out contacts alike (``data.converts_organically``), through
    ``POST /campaigns/{id}/funnel-events`` by phone, as a customer's shop would. Held-out contacts never
    got the message: these are their only conversions, the baseline the lift is measured against."""
    phones = [p.phone for p in data.contacts(count) if data.converts_organically(p.index)]
    for start in range(0, len(phones), 8):  # a few at a time: SQLite has one writer
        await asyncio.gather(*(
            api.post(f"/campaigns/{campaign_id}/funnel-events", {"phone": phone, "step": data.CONVERSION_STEP})
            for phone in phones[start:start + 8]
        ))
    return len(phones)


def _rate(rate: dict[str, Any]) -> str:
    return f"{rate['pct']:.1f}% [{rate['low']:.1f}–{rate['high']:.1f}]"


def holdout_table(holdout: dict[str, Any], seed: int | None) -> Table:
    """The sent group against the holdout, per funnel step: ``GET /campaigns/{id}/experiment``."""
    table = Table(title=f"Holdout: {holdout['holdout_percent']:g}% of the eligible audience kept unsent "
                        f"(seed {seed})", title_justify="left")
    table.add_column("step", style="bold")
    table.add_column(f"sent group ({holdout['sent']})", justify="right")
    table.add_column(f"holdout ({holdout['holdout']})", justify="right")
    table.add_column("lift, points [95%]", justify="right")
    table.add_column("", no_wrap=True)  # the sentence is read whole (and parsed by the demo's tests)
    for step in holdout["steps"]:
        table.add_row(step["step"], f"{step['sent_converted']} = {step['sent_rate']:.1f}%",
                      f"{step['holdout_converted']} = {step['holdout_rate']:.1f}%",
                      f"{step['points']:+.1f} [{step['points_low']:+.1f}, {step['points_high']:+.1f}]",
                      step["sentence"])
    return table


GAUGE_WIDTH = 20  # characters of the breaker's gauge bars


def breaker_table(breaker: dict[str, Any]) -> Table:
    """The quality circuit breaker's gauges (``GET /campaigns/{id}/stats``, ``breaker``): each rule's
    figure over the latest sends against its threshold, and a bar of how close it came (docs/quality.md)."""
    table = Table(title=f"Quality breaker: latest {breaker['window_sends']} sends (window {breaker['window']}, "
                        f"rates judged from {breaker['min_sends']})", title_justify="left")
    table.add_column("rule", style="bold")
    table.add_column("now", justify="right")
    table.add_column("limit", justify="right")
    table.add_column("gauge", no_wrap=True)
    for gauge in breaker["gauges"]:
        unit = " %" if gauge["unit"] == "%" else ""
        threshold = gauge["threshold"]
        filled = 0 if not threshold else min(GAUGE_WIDTH, round(GAUGE_WIDTH * gauge["value"] / threshold))
        bar = "█" * filled + "░" * (GAUGE_WIDTH - filled) + (" tripped" if gauge["tripped"] else "")
        table.add_row(gauge["label"], f"{figure(gauge['value'])}{unit}",
                      "off" if threshold is None else f"{figure(threshold)}{unit}", bar)
    return table


def variants_table(variants: list[dict[str, Any]]) -> Table:
    """Each A/B variant's sends and rates (a column each), with 95 % intervals in brackets."""
    table = Table(title="A/B variants (95% intervals in brackets)", title_justify="left")
    table.add_column("", style="bold")
    for v in variants:
        table.add_column(f"variant {v['name']}", justify="right")
    table.add_row("template", *(v["template"] for v in variants))
    table.add_row("share", *(f"{v['share']:g}%" for v in variants))
    table.add_row("sent", *(str(v["sent"]) for v in variants))
    table.add_row("received, of sent", *(_rate(v["received"]) for v in variants))
    table.add_row("read, of received", *(_rate(v["read"]) for v in variants))
    table.add_row("replied, of received", *(_rate(v["replied"]) for v in variants))
    steps = list(dict.fromkeys(s["step"] for v in variants for s in v["steps"]))
    for step in steps:
        reached = [{s["step"]: _rate(s["reached"]) for s in v["steps"]}.get(step, "") for v in variants]
        table.add_row(f"{step}, of sent", *reached)
    return table
