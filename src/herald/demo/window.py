"""The demo campaign's send window: one that is open, for every demo contact, while the demo runs.

CI runs the demo at any hour, so a fixed window (10:00–20:00) would make it wait for the morning
half the time. The window is computed when the campaign is created, from the current local time in
each zone the demo's contacts are in: it opens ``BEFORE`` minutes before the earliest of those local
times and closes ``AHEAD`` minutes after the latest, going round the clock the short way (the demo's
zones are nine hours apart at most, so the window is an ordinary one of half a day or so, overnight
when the clocks straddle midnight). The campaign takes a minute; two hours ahead cannot be reached.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from zoneinfo import ZoneInfo

DAY = 24 * 60
AHEAD = 120  # minutes the window stays open after the latest local time: far beyond the demo's run
BEFORE = 60  # minutes it opened before the earliest, so it reads like a window and not like "now"
STEP = 5  # the window's ends are rounded outwards to these minutes


def _hhmm(minute: int) -> str:
    minute %= DAY
    return f"{minute // 60:02d}:{minute % 60:02d}"


def open_window(zones: Iterable[str], now: datetime) -> tuple[str, str]:
    """``(window_start, window_end)`` as ``HH:MM``, open at ``now`` in every zone and for ``AHEAD`` minutes."""
    points = sorted({_local_minute(zone, now) for zone in zones})
    if not points:
        raise ValueError("no zone to open a window in")
    # The longest stretch of the clock with no contact's local time in it holds the closed part.
    gaps = [((points[(i + 1) % len(points)] - p) % DAY or DAY, i) for i, p in enumerate(points)]
    gap, last = max(gaps)
    latest, earliest = points[last], points[(last + 1) % len(points)]
    if gap - AHEAD - BEFORE < 2 * STEP:  # zones all round the clock: close for one minute, as far as can be
        close = latest + gap // 2
        return _hhmm(close + 1), _hhmm(close)
    start = (earliest - BEFORE) // STEP * STEP
    end = -(-(latest + AHEAD) // STEP) * STEP
    return _hhmm(start), _hhmm(end)


def _local_minute(zone: str, now: datetime) -> int:
    local = now.astimezone(ZoneInfo(zone))
    return local.hour * 60 + local.minute
