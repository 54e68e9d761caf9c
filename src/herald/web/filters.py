"""Jinja filters: how times, statuses and numbers read on the pages."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from jinja2 import Environment

from herald.campaigns.bindings import NO_ELIGIBLE
from herald.campaigns.naming import shown
from herald.kit.text import plural

STATUS_LABELS = {
    "draft": "Draft", "ready": "Ready to Launch", "scheduled": "Scheduled",
    "active": "Active", "paused": "Paused", "ended": "Ended",
}
FIELD_LABELS = {
    "name": "Name", "whatsapp_number_id": "WhatsApp number", "audience": "Audience", "template": "Template",
    "header_media_id": "Header media", "bot_flow_id": "Bot flow",
    NO_ELIGIBLE: "Someone to send to",
}


def status_label(status: str) -> str:
    return STATUS_LABELS.get(status, status.title())


def field_label(field: str) -> str:
    if field.startswith("variables."):
        return "Variable {{" + field.split(".", 1)[1] + "}}"
    return FIELD_LABELS.get(field, field)


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
                       plural=plural, campaign_name=shown, pct=pct, pace=pace)
    # ``tojson`` keeps a mapping's order (e.g. not-sent reasons, most frequent first) instead of sorting it.
    env.policies["json.dumps_kwargs"] = {"sort_keys": False}
