"""The quality circuit breaker's arithmetic (herald.quality.breaker): the rolling window, the minimum
sample, each rule's threshold and the words a manager reads when it trips."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from herald.quality.breaker import DEFAULTS, BreakerSettings, Tally, check, readings, settings_of, window_of


class TestWindow:
    def test_the_first_claim_counts_from_zero(self) -> None:
        window, marks = window_of(Tally(30, 3, 1, 0), [], 200)
        assert window == Tally(30, 3, 1, 0)
        assert marks == [Tally()]  # the start; the next mark once a quarter window (50 sends) went

    def test_covers_the_last_n_sends_from_the_newest_mark_at_least_n_back(self) -> None:
        marks = [Tally(0, 0, 0, 0), Tally(50, 40, 0, 0), Tally(100, 40, 0, 0), Tally(150, 41, 0, 0)]
        window, kept = window_of(Tally(260, 45, 2, 1), marks, 200)
        # 260 - 50 = 210 >= 200: the 40 failures of the first 50 sends are out of the window.
        assert window == Tally(210, 5, 2, 1)
        assert kept[0] == Tally(50, 40, 0, 0)
        assert kept[-1] == Tally(260, 45, 2, 1)  # a quarter window (50) since the last mark: a new one

    def test_no_new_mark_within_a_quarter_window(self) -> None:
        marks = [Tally(), Tally(100, 0, 0, 0)]
        _, kept = window_of(Tally(120, 0, 0, 0), marks, 200)
        assert kept == marks

    def test_a_restarted_window_judges_only_the_sends_after_it(self) -> None:
        # Resumed at 300 sends with 60 failures: one mark there.
        window, _ = window_of(Tally(310, 61, 0, 0), [Tally(300, 60, 0, 0)], 200)
        assert window == Tally(10, 1, 0, 0)


class TestRules:
    def test_two_failures_out_of_three_do_not_trip_below_the_minimum_sample(self) -> None:
        assert check(DEFAULTS, Tally(3, 2, 0, 0)) is None
        assert [r.judged for r in readings(DEFAULTS, Tally(3, 2, 0, 0))] == [False, False, True]

    def test_failure_rate_trips_at_its_threshold_with_the_figure(self) -> None:
        trip = check(DEFAULTS, Tally(200, 28, 0, 0))
        assert trip is not None and trip.rule == "failure_rate"
        assert trip.reason == "quality breaker: 14 % of the last 200 sends failed (limit 10 %)"
        assert trip.event_data() == {"rule": "failure_rate", "value": 14.0, "threshold": 10.0,
                                     "reason": trip.reason, "window_sends": 200}
        assert check(DEFAULTS, Tally(200, 19, 0, 0)) is None  # 9.5 %

    def test_a_rate_just_under_its_threshold_neither_trips_nor_reads_as_reaching_it(self) -> None:
        window = Tally(201, 20, 0, 0)  # 9.95 %
        assert check(DEFAULTS, window) is None
        assert readings(DEFAULTS, window)[0].value == 9.9

    def test_opt_out_rate(self) -> None:
        trip = check(DEFAULTS, Tally(200, 0, 0, 5))
        assert trip is not None and trip.rule == "opt_out_rate"
        assert trip.reason == "quality breaker: opt-outs came to 2.5 % of the last 200 sends (limit 2 %)"

    def test_block_signals_are_a_count_judged_without_a_minimum_sample(self) -> None:
        trip = check(DEFAULTS, Tally(25, 0, 20, 0))
        assert trip is not None and trip.rule == "block_signals"
        assert trip.value == 20 and trip.threshold == 20
        assert trip.reason == "quality breaker: 20 block signals (131048/131049) in the last 25 sends (limit 20)"

    def test_a_rule_set_to_null_is_off_and_a_disabled_breaker_never_trips(self) -> None:
        assert check(BreakerSettings(failure_rate=None), Tally(200, 200, 0, 0)) is None
        assert check(BreakerSettings(enabled=False), Tally(200, 200, 200, 200)) is None

    def test_stored_settings(self) -> None:
        assert settings_of(None) == DEFAULTS
        assert settings_of({"failure_rate": 5}).failure_rate == 5
        assert settings_of({"failure_rate": 5}).opt_out_rate == DEFAULTS.opt_out_rate

    def test_a_minimum_sample_larger_than_the_window_is_refused(self) -> None:
        with pytest.raises(ValidationError, match="min_sends must not be larger than window"):
            BreakerSettings(window=50, min_sends=60)
