"""Jinja filters: how times, statuses and numbers read on the pages."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from jinja2 import Environment

from herald.campaigns.naming import shown
from herald.kit.text import plural
from herald.media.limits import type_name
from herald.quality.breaker import figure
from herald.web.wording import field_label, reworded, status_label


def when(value: datetime | None) -> str:
    """UTC, to the minute; the page's script rewrites it into the reader's local time."""
    if value is None:
        return "—"
    return value.strftime("%Y-%m-%d %H:%M UTC")


def iso(value: datetime | None) -> str:
    return value.isoformat() if value else ""


def thousands(value: Any) -> str:
    try:
        return f"{int(value):,}"
    except (TypeError, ValueError):
        return str(value)


def pct(value: float) -> str:
    """A percentage as the stats page writes it: one decimal, none when it is whole (``42.5%``, ``100%``)."""
    return f"{value:.1f}".removesuffix(".0") + "%"


def pace(per_minute: float | None) -> str:
    """Messages per minute, or per second once that reads better (``12/min``, ``20/s``)."""
    if per_minute is None:
        return "—"
    if per_minute >= 600:
        return f"{per_minute / 60:,.0f}/s"
    return f"{per_minute:,.0f}/min" if per_minute >= 10 else f"{per_minute:,.1f}/min".replace(".0/", "/")


def install(env: Environment) -> None:
    env.filters.update(status_label=status_label, field_label=field_label, when=when, iso=iso, thousands=thousands,
                       plural=plural, campaign_name=shown, media_type_name=type_name, user_words=reworded,
                       pct=pct, pace=pace, breaker_figure=figure)
    # ``tojson`` keeps a mapping's order (e.g. not-sent reasons, most frequent first) instead of sorting it.
    env.policies["json.dumps_kwargs"] = {"sort_keys": False}
