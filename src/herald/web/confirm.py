"""The questions the Start now and Schedule buttons ask (their ``data-confirm``, asked by app.js):
whom the campaign will message, at what pace, for how long. Written here, on the server, from the
audience's eligible count, so the dialog says what the launch will do."""

from __future__ import annotations

from datetime import datetime

from herald.campaigns.naming import shown
from herald.kit.text import about, plural


def _pace(rate_per_second: float) -> str:
    return f"{rate_per_second:,.2f}".rstrip("0").rstrip(".") + "/s"


def start_question(name: str | None, eligible: int, rate_per_second: float) -> str:
    """``Start “Spring sale” now: send to 2,460 contacts at 20/s, about 2 minutes?``"""
    if not eligible:
        return f"Start “{shown(name)}” now? Nobody in its audience can be messaged now."
    duration = about(eligible / rate_per_second) if rate_per_second > 0 else "an unknown time"
    return f"Start “{shown(name)}” now: send to {plural(eligible, 'contact')} at {_pace(rate_per_second)}, {duration}?"


def schedule_question(
    name: str | None, eligible: int, rate_per_hour: int | None, start_at: datetime | None, zone: str
) -> str:
    """``Schedule “Spring sale” for 2026-12-06 09:00 (Europe/Paris): send to 2,460 contacts at 1,000/hour, about 2.5 hours?``"""
    when = f" for {start_at:%Y-%m-%d %H:%M} ({zone})" if start_at is not None else ""
    head = f"Schedule “{shown(name)}”{when}"
    if not eligible:
        return f"{head}? Nobody in its audience can be messaged now."
    if not rate_per_hour or rate_per_hour < 1:
        return f"{head}: send to {plural(eligible, 'contact')}?"
    duration = about(eligible / rate_per_hour * 3600)
    return f"{head}: send to {plural(eligible, 'contact')} at {rate_per_hour:,}/hour, {duration}?"
