"""A campaign's send window in each contact's local time (docs/campaign-features.md, "Send windows").

A window is a start and an end time of day ("10:00"–"20:00") and the weekdays it opens on, read in
each contact's zone (``contacts/local_zone.py``). An end before the start makes an overnight window
("22:00"–"06:00"), which belongs to the weekday it opens on. The engine checks it as it claims each
batch (``dispatch/send_window.py``): a contact outside its window waits, pending, until the next
opening, with the reason ``waiting for 10:00 America/Sao_Paulo``.

``window_end_action`` says what happens to a contact whose window closes before it was sent (the pace
did not reach it): ``carry_on`` (the default) waits for its next window; ``end`` gives each contact one
window, its first from the campaign's start, after which it is counted not sent,
so the campaign ends once the last zone's first window closed
(``reasons.WINDOW_CLOSED``).

Times are computed per zone, never per contact: ``opening`` and ``first_close`` take a zone.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from herald.contacts.local_zone import zone_info

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
CARRY_ON, END = "carry_on", "end"
TIME_OF_DAY = re.compile(r"([01][0-9]|2[0-3]):[0-5][0-9]")
# How far ahead ``hours_to_send`` looks.
ESTIMATE_DAYS = 60


def waiting_reason(start: time, zone: str) -> str:
    return f"waiting for {start.strftime('%H:%M')} {zone}"


@dataclass(frozen=True, slots=True)
class SendWindow:
    start: time
    end: time
    weekdays: frozenset[int]  # date.weekday(): 0 is Monday
    end_action: str = CARRY_ON

    @property
    def overnight(self) -> bool:
        return self.end < self.start

    def _windows(self, zone: ZoneInfo, around: datetime, days: int = 8) -> Iterator[tuple[datetime, datetime]]:
        """The (opening, closing) of each window, in UTC, from the local day before ``around`` on, for
        ``days`` days: the weekdays are never empty, so one opens in eight."""
        today = around.astimezone(zone).date()
        for offset in range(-1, days + 1):
            day = today + timedelta(days=offset)
            if day.weekday() not in self.weekdays:
                continue
            yield _at(day, self.start, zone), _at(day + timedelta(days=1) if self.overnight else day, self.end, zone)

    def opening(self, zone: ZoneInfo, now: datetime) -> datetime | None:
        """None when the window is open at ``now`` in ``zone``; else its next opening (aware, UTC)."""
        for opens, closes in self._windows(zone, now):
            if opens <= now < closes:
                return None
            if opens > now:
                return opens
        raise AssertionError("a window with weekdays opens within a week")  # pragma: no cover

    def first_close(self, zone: ZoneInfo, since: datetime) -> datetime:
        """When the first window open at or after ``since`` closes (``end``: a contact's only window)."""
        for _, closes in self._windows(zone, since):
            if closes > since:
                return closes
        raise AssertionError("a window with weekdays opens within a week")  # pragma: no cover


    def hours_to_send(self, zones: Mapping[str, int], start: datetime, rate_per_hour: float) -> float | None:
        """Hours from ``start`` until the last contact is sent at ``rate_per_hour``, each zone's contacts
        (``zones``: count per zone) going only while their window is open, the open zones sharing the
        pace. With ``end``, each zone has its first window only and what it leaves is not sent. None
        when contacts would still wait after ``ESTIMATE_DAYS``."""
        remaining = {zone: float(count) for zone, count in zones.items() if count > 0}
        horizon = start + timedelta(days=ESTIMATE_DAYS)
        spans: dict[str, list[tuple[datetime, datetime]]] = {}
        for zone in remaining:
            found = [(max(o, start), min(c, horizon)) for o, c in self._windows(zone_info(zone), start, ESTIMATE_DAYS)
                     if c > start and o < horizon]
            spans[zone] = found[:1] if self.end_action == END else found
        edges = sorted({start} | {t for found in spans.values() for span in found for t in span})
        finished = start
        for left, right in zip(edges, edges[1:], strict=False):
            open_zones = [z for z, found in spans.items() if remaining[z] > 0 and any(o <= left < c for o, c in found)]
            waiting = sum(remaining[z] for z in open_zones)
            if not waiting:
                continue
            capacity = rate_per_hour * (right - left).total_seconds() / 3600
            if waiting <= capacity:
                finished = left + timedelta(hours=waiting / rate_per_hour)
                for zone in open_zones:
                    remaining[zone] = 0
            else:
                finished = right
                for zone in open_zones:
                    remaining[zone] -= capacity * remaining[zone] / waiting
        if self.end_action != END and any(left > 0.5 for left in remaining.values()):
            return None
        return (finished - start).total_seconds() / 3600


def _at(day: date, clock: time, zone: ZoneInfo) -> datetime:
    # A local time the clocks skip (spring forward) is read with the offset before the change, so
    # 02:30 on that day is 03:30 after it; a repeated one (autumn) is its first occurrence.
    return datetime.combine(day, clock, tzinfo=zone).astimezone(UTC)


def parse_time(text: str) -> time:
    if not TIME_OF_DAY.fullmatch(text):
        raise ValueError("must be a time of day as HH:MM, 00:00 to 23:59")
    hours, minutes = text.split(":")
    return time(int(hours), int(minutes))


def window_of(campaign: Any) -> SendWindow | None:
    """The campaign's window, or None (``window_start`` unset)."""
    if not campaign.window_start or not campaign.window_end:
        return None
    weekdays = frozenset(WEEKDAYS.index(d) for d in (campaign.window_weekdays or WEEKDAYS) if d in WEEKDAYS)
    return SendWindow(
        start=parse_time(campaign.window_start), end=parse_time(campaign.window_end),
        weekdays=weekdays or frozenset(range(7)), end_action=campaign.window_end_action or CARRY_ON,
    )
