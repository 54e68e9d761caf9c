"""``herald demo --run-campaign``: launch the welcome campaign, watch it live, print the outcome, export the CSV."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import orjson
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from herald.campaigns.lifecycle import RUNNING
from herald.demo import data
from herald.demo.api import Api, ApiError, DemoError

POLL_SECONDS = 0.5
# The funnel trails the sends (reads, replies, the bot's steps): done once nothing moved for this long.
SETTLE_SECONDS = 3.0
MAX_SETTLE_SECONDS = 30.0
MAX_RUN_SECONDS = 600.0
COUNTERS = ("sent", "received", "read", "replied", "not_sent")
LABELS = {"sent": "sent", "received": "received", "read": "read", "replied": "replied", "not_sent": "not sent"}
STYLES = {"sent": "cyan", "received": "green", "read": "blue", "replied": "magenta", "not_sent": "red"}

Fetch = Callable[[], Awaitable[dict[str, Any]]]


async def create_and_start(api: Api, *, number_id: int, bot_flow_id: int) -> dict[str, Any]:
    await _end_previous(api)
    campaign = await api.post("/campaigns", {
        "name": "Welcome to the winter offer",
        "whatsapp_number_id": number_id,
        "audience": {"tags_any": [data.AUDIENCE_TAG]},
        "template": {"name": "welcome", "language": "en_US"},
        "variables": {"1": {"source": "contact_name"}, "2": {"source": "valued_tag", "key": data.MEMBER_ID}},
        "bot_flow_id": bot_flow_id,
    })
    if campaign["status"] != "ready":
        raise DemoError(f"the demo campaign is not ready, missing: {', '.join(campaign['missing'])}")
    return await api.post(f"/campaigns/{campaign['id']}/start",  # type: ignore[no-any-return]
                          {"rate_per_second": data.CAMPAIGN_RATE})


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
        table.add_row(f"bot: {step['step']}", str(step["contacts"]), "")
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
