"""A send window's arithmetic in a zone, and a contact's zone (campaigns/send_window.py,
contacts/local_zone.py): pure functions on an explicit clock."""

from __future__ import annotations

from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

from herald.campaigns.send_window import END, SendWindow, waiting_reason
from herald.contacts.local_zone import UNKNOWN_ZONE, zone_for_phone, zone_of

WEEKDAYS = frozenset(range(5))
EVERY_DAY = frozenset(range(7))
SAO_PAULO = ZoneInfo("America/Sao_Paulo")
NEW_YORK = ZoneInfo("America/New_York")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


class TestOpening:
    window = SendWindow(start=time(10), end=time(20), weekdays=WEEKDAYS)

    def test_inside_the_window_it_is_open(self) -> None:
        # Wednesday 2026-12-02 15:00 UTC is 12:00 in São Paulo (UTC-3).
        assert self.window.opening(SAO_PAULO, utc(2026, 12, 2, 15)) is None

    def test_before_the_opening_it_waits_for_10_local(self) -> None:
        # 09:00 UTC is 06:00 in São Paulo: opens at 10:00 local, 13:00 UTC.
        assert self.window.opening(SAO_PAULO, utc(2026, 12, 2, 9)) == utc(2026, 12, 2, 13)

    def test_the_end_is_not_inside(self) -> None:
        # 23:00 UTC is 20:00 local: closed, the next day at 10:00.
        assert self.window.opening(SAO_PAULO, utc(2026, 12, 2, 23)) == utc(2026, 12, 3, 13)

    def test_friday_evening_waits_for_monday(self) -> None:
        # Friday 2026-12-04 21:00 local; weekdays only: Monday 2026-12-07 10:00 local.
        assert self.window.opening(SAO_PAULO, utc(2026, 12, 5, 0)) == utc(2026, 12, 7, 13)

    def test_the_same_instant_is_open_in_one_zone_and_closed_in_another(self) -> None:
        now = utc(2026, 12, 2, 14)  # 11:00 São Paulo, 09:00 New York
        assert self.window.opening(SAO_PAULO, now) is None
        assert self.window.opening(NEW_YORK, now) == utc(2026, 12, 2, 15)

    def test_on_the_day_clocks_go_forward_the_opening_follows_local_time(self) -> None:
        # New York springs forward on Sunday 2027-03-14: 10:00 local is 15:00 UTC the day before (EST)
        # and 14:00 UTC on the day of the change (EDT).
        window = SendWindow(start=time(10), end=time(20), weekdays=EVERY_DAY)
        assert window.opening(NEW_YORK, utc(2027, 3, 13, 5)) == utc(2027, 3, 13, 15)
        assert window.opening(NEW_YORK, utc(2027, 3, 14, 5)) == utc(2027, 3, 14, 14)

    def test_on_the_day_clocks_go_back_the_closing_follows_local_time(self) -> None:
        # 2026-11-01: EDT ends at 02:00 local. 19:30 local is 00:30 UTC next day (EST, UTC-5): still open.
        window = SendWindow(start=time(10), end=time(20), weekdays=EVERY_DAY)
        assert window.opening(NEW_YORK, utc(2026, 11, 2, 0, 30)) is None
        assert window.opening(NEW_YORK, utc(2026, 11, 2, 1, 0)) == utc(2026, 11, 2, 15)

    def test_an_overnight_window_is_open_after_midnight_and_belongs_to_the_day_it_opens(self) -> None:
        # 22:00-06:00, opening Fridays only. Saturday 03:00 local is inside Friday's window.
        window = SendWindow(start=time(22), end=time(6), weekdays=frozenset({4}))
        assert window.opening(SAO_PAULO, utc(2026, 12, 5, 6)) is None  # Sat 03:00 local
        # Saturday 23:00 local: Saturday opens none; next Friday 22:00 local.
        assert window.opening(SAO_PAULO, utc(2026, 12, 6, 2)) == utc(2026, 12, 12, 1)


class TestFirstClose:
    def test_a_contact_reached_during_its_window_closes_that_evening(self) -> None:
        window = SendWindow(start=time(10), end=time(20), weekdays=WEEKDAYS, end_action=END)
        started = utc(2026, 12, 2, 14)  # 11:00 local, in the window
        assert window.first_close(SAO_PAULO, started) == utc(2026, 12, 2, 23)

    def test_after_the_close_the_first_window_is_the_next_days(self) -> None:
        window = SendWindow(start=time(10), end=time(20), weekdays=WEEKDAYS, end_action=END)
        assert window.first_close(SAO_PAULO, utc(2026, 12, 2, 23, 30)) == utc(2026, 12, 3, 23)


class TestContactZone:
    def test_a_valid_timezone_tag_wins_over_the_phone(self) -> None:
        assert zone_of("Asia/Tokyo", "+5511987654321") == ("Asia/Tokyo", False)

    def test_a_bad_tag_falls_back_to_the_phone_and_says_so(self) -> None:
        assert zone_of("Mars/Olympus", "+5511987654321") == ("America/Sao_Paulo", True)

    def test_the_phone_country_gives_the_zone(self) -> None:
        assert zone_for_phone("+4915112345678") == "Europe/Berlin"
        assert zone_for_phone("+5592987654321") == "America/Manaus"  # the area code places it

    def test_a_country_with_several_zones_gives_its_most_populous(self) -> None:
        # A Russian mobile number: phonenumbers lists sixteen zones.
        assert zone_for_phone("+79161234567") == "Europe/Moscow"

    def test_no_phone_is_utc(self) -> None:
        assert zone_for_phone(None) == UNKNOWN_ZONE
        assert zone_of(None, "not-a-phone") == (UNKNOWN_ZONE, False)


def test_the_reason_names_the_local_time_and_zone() -> None:
    assert waiting_reason(time(10), "America/Sao_Paulo") == "waiting for 10:00 America/Sao_Paulo"
