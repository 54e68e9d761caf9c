"""The demo's send window is open, for every demo contact, whenever the demo runs (CI runs it at any hour)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from herald.campaigns.send_window import SendWindow, parse_time
from herald.demo import data
from herald.demo.window import open_window

RUN = timedelta(minutes=10)  # far longer than the demo's campaign takes


def as_window(start: str, end: str) -> SendWindow:
    return SendWindow(start=parse_time(start), end=parse_time(end), weekdays=frozenset(range(7)))


def instants(day: datetime) -> list[datetime]:
    return [day + timedelta(minutes=m) for m in range(0, 24 * 60, 7)]


# A winter day, a summer day, and the days Europe and the US move their clocks forward.
DAYS = [datetime(2026, 12, 6, tzinfo=UTC), datetime(2026, 7, 1, tzinfo=UTC), datetime(2026, 3, 29, tzinfo=UTC),
        datetime(2026, 3, 8, tzinfo=UTC)]


@pytest.mark.parametrize("day", DAYS, ids=lambda d: d.date().isoformat())
def test_the_demo_window_is_open_in_every_zone_at_any_hour_and_stays_open_for_the_run(day: datetime) -> None:
    zones = data.zones(300)
    assert len(zones) == 3  # Los Angeles by phone, Lisbon and Berlin by their timezone tag
    for now in instants(day):
        window = as_window(*open_window(zones, now))
        for zone in zones:
            for moment in (now, now + RUN):
                assert window.opening(ZoneInfo(zone), moment) is None, (now, zone, window)


def test_the_window_reads_like_a_window_not_like_the_whole_day() -> None:
    start, end = open_window(data.zones(300), datetime(2026, 12, 6, 14, 3, tzinfo=UTC))
    # 14:03 UTC: 06:03 in Los Angeles, 14:03 in Lisbon, 15:03 in Berlin.
    assert (start, end) == ("05:00", "17:05")


def test_zones_all_round_the_clock_still_get_a_window_open_now() -> None:
    zones = [f"Etc/GMT{offset:+d}" if offset else "Etc/GMT" for offset in range(-12, 12)]
    for now in instants(datetime(2026, 12, 6, tzinfo=UTC)):
        window = as_window(*open_window(zones, now))
        assert all(window.opening(ZoneInfo(zone), now + RUN) is None for zone in zones), now
