"""Counts and durations as a sentence reads them: "1 minute", "2,460 contacts", "about 2 minutes"."""

from __future__ import annotations


def plural(count: float, singular: str, many: str | None = None) -> str:
    """``1 contact``, ``2,460 contacts``, ``1.5 hours``: the noun agrees with the number."""
    shown = f"{count:,}" if isinstance(count, int) or float(count).is_integer() else f"{count:,.1f}"
    shown = shown.removesuffix(".0")
    word = singular if count == 1 else (many or singular + "s")
    return f"{shown} {word}"


def about(seconds: float) -> str:
    """A rough duration: ``less than a minute``, ``about 1 minute``, ``about 2.5 hours``, ``about 3 days``."""
    if seconds < 60:
        return "less than a minute"
    minutes = round(seconds / 60)
    if minutes < 60:
        return "about " + plural(minutes, "minute")
    hours = round(seconds / 3600, 1)
    if hours < 48:
        return "about " + plural(int(hours) if hours.is_integer() else hours, "hour")
    return "about " + plural(round(seconds / 86400), "day")
