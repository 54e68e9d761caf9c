"""Jinja filters: how times, statuses and numbers read on the pages."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from jinja2 import Environment

from herald.campaigns.naming import shown
from herald.kit.text import plural
from herald.media.limits import type_name
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


def install(env: Environment) -> None:
    env.filters.update(status_label=status_label, field_label=field_label, when=when, iso=iso, thousands=thousands,
                       plural=plural, campaign_name=shown, media_type_name=type_name, user_words=reworded)
    # ``tojson`` keeps a mapping's order (e.g. not-sent reasons, most frequent first) instead of sorting it.
    env.policies["json.dumps_kwargs"] = {"sort_keys": False}
