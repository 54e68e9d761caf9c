"""Conversion rates, their difference and 95 % confidence intervals, in plain Python.

Wilson's score interval for one proportion, and Newcombe's hybrid score interval (his method 10,
Statistics in Medicine 1998) for the difference of two independent proportions: both stay inside
[0, 1] and behave with small counts and rates near 0, where the textbook ±1.96·SE does not.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

Z95 = 1.959963984540054
# Below this many contacts in either group the sentence says there is too little to tell.
MIN_GROUP = 30


def wilson(successes: int, total: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval of successes/total, as proportions (0–1); (0, 0) when total is 0."""
    if total <= 0:
        return 0.0, 0.0
    p = successes / total
    denominator = 1 + z * z / total
    centre = p + z * z / (2 * total)
    spread = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total))
    return max(0.0, (centre - spread) / denominator), min(1.0, (centre + spread) / denominator)


def newcombe(x1: int, n1: int, x2: int, n2: int, z: float = Z95) -> tuple[float, float]:
    """Newcombe's interval for p1 − p2 (proportions); (0, 0) when a group is empty."""
    if n1 <= 0 or n2 <= 0:
        return 0.0, 0.0
    p1, p2 = x1 / n1, x2 / n2
    l1, u1 = wilson(x1, n1, z)
    l2, u2 = wilson(x2, n2, z)
    d = p1 - p2
    lower = d - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
    upper = d + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    return lower, upper


@dataclass(frozen=True, slots=True)
class Lift:
    """A step's conversion in the sent group against the holdout, rates and lifts in percent/points."""

    sent_rate: float
    holdout_rate: float
    points: float
    points_low: float
    points_high: float
    relative: float | None  # percent of the holdout's rate; None when the holdout's rate is 0
    sentence: str


def lift(sent_converted: int, sent: int, holdout_converted: int, holdout: int) -> Lift:
    sent_rate = 100 * sent_converted / sent if sent else 0.0
    holdout_rate = 100 * holdout_converted / holdout if holdout else 0.0
    low, high = newcombe(sent_converted, sent, holdout_converted, holdout)
    points = sent_rate - holdout_rate
    relative = 100 * points / holdout_rate if holdout_rate else None
    return Lift(
        sent_rate=round(sent_rate, 2), holdout_rate=round(holdout_rate, 2), points=round(points, 2),
        points_low=round(100 * low, 2), points_high=round(100 * high, 2),
        relative=None if relative is None else round(relative, 1),
        sentence=sentence(points, 100 * low, 100 * high, sent, holdout),
    )


def sentence(points: float, low: float, high: float, sent: int, holdout: int) -> str:
    """The comparison in words: likely real when the interval excludes 0."""
    if min(sent, holdout) < MIN_GROUP:
        return "too few contacts to tell"
    if low > 0 or high < 0:
        return f"{points:+.1f} points, likely real"
    return "no measurable difference"
