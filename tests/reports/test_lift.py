"""Lift math against the published values of Newcombe (Statistics in Medicine 17, 1998), tables I and II."""

from __future__ import annotations

import pytest

from herald.reports.lift import lift, newcombe, wilson


@pytest.mark.parametrize(("x", "n", "low", "high"), [
    (81, 263, 0.2553, 0.3662),
    (15, 148, 0.0624, 0.1605),
    (0, 20, 0.0, 0.1611),
])
def test_wilson_score_interval_matches_newcombe_table_i(x: int, n: int, low: float, high: float) -> None:
    assert wilson(x, n) == pytest.approx((low, high), abs=1e-4)


@pytest.mark.parametrize(("x1", "n1", "x2", "n2", "low", "high"), [
    (56, 70, 48, 80, 0.0524, 0.3339),
    (9, 10, 3, 10, 0.1705, 0.8090),
    (5, 56, 0, 29, -0.0381, 0.1926),
    (0, 10, 0, 20, -0.1611, 0.2775),
])
def test_difference_interval_matches_newcombe_method_10(
    x1: int, n1: int, x2: int, n2: int, low: float, high: float
) -> None:
    assert newcombe(x1, n1, x2, n2) == pytest.approx((low, high), abs=1e-4)


def test_empty_groups_give_no_interval() -> None:
    assert wilson(0, 0) == (0.0, 0.0)
    assert newcombe(1, 0, 1, 10) == (0.0, 0.0)


def test_a_clear_lift_is_likely_real_with_points_and_relative_lift() -> None:
    result = lift(sent_converted=300, sent=1000, holdout_converted=20, holdout=100)

    assert (result.sent_rate, result.holdout_rate, result.points) == (30.0, 20.0, 10.0)
    assert result.relative == 50.0
    assert result.points_low > 0
    assert result.sentence == "+10.0 points, likely real"


def test_an_interval_across_zero_is_no_measurable_difference() -> None:
    assert lift(100, 1000, 9, 100).sentence == "no measurable difference"


def test_small_groups_are_too_few_to_tell() -> None:
    result = lift(5, 10, 0, 2)

    assert result.sentence == "too few contacts to tell"
    assert result.relative is None  # the holdout converted nobody: no ratio to give


def test_a_negative_lift_says_so() -> None:
    assert lift(100, 1000, 40, 100).sentence == "-30.0 points, likely real"
