"""The quality circuit breaker: the rules that pause a campaign before it harms its number (docs/quality.md).

A campaign's breaker has thresholds (``BreakerSettings``, the defaults below when it sets none) on a
rolling window of its most recent sends:

- **failure rate**: failures (WhatsApp refused the send, or reported it failed later) per send;
- **opt-out rate**: contacts who opted out (Meta's ``user_preferences`` stop, an opt-out keyword)
  while engaged in the campaign, per send;
- **block signals**: how many 131048 (spam rate limit) and 131049 (per-user marketing limit) answers
  came in the window;

and two rules on what Meta says of the number and the template: the number's quality rating dropping
to RED, the template's quality to RED ("low" in WhatsApp Manager). The rates are judged only once the
window holds ``min_sends`` sends, so two failures in the first three sends do not trip it.

The counts are the campaign's ``quality_*`` counters (``campaign_stats``), kept with its other
counters. The window is read from ``marks``: the counters at a few points of the campaign's sends
(one every quarter window), so the window covers the last ``window`` sends to the last
``window`` + a quarter window + one claim. Failures and opt-outs are counted when they are reported:
a failure reported now for a message sent before the window counts in the window.

This module is arithmetic and words only; the engine evaluates it (``dispatch/breaker.py``) and
the webhooks apply the rating rules (``webhooks/quality_effects.py``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

PREFIX = "quality breaker: "
# 131048: spam rate limit hit; 131049: Meta chose not to deliver (per-user marketing limit, "healthy
# ecosystem engagement"). Both say Meta thinks the campaign's messages are unwelcome.
BLOCK_CODES = frozenset({131048, 131049})
# The ratings that trip the rating rules: Graph's RED, which WhatsApp Manager calls "Low".
RED = "RED"

DEFAULT_WINDOW = 200
DEFAULT_MIN_SENDS = 50
DEFAULT_FAILURE_RATE = 10.0
DEFAULT_OPT_OUT_RATE = 2.0
DEFAULT_BLOCK_SIGNALS = 20
MAX_WINDOW = 100_000


class BreakerSettings(BaseModel):
    """A campaign's breaker thresholds; a rule set to null is off."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(default=True, description="false: the breaker never pauses this campaign")
    window: int = Field(default=DEFAULT_WINDOW, ge=20, le=MAX_WINDOW,
                        description="the rates are measured over (at least) this many of the latest sends")
    min_sends: int = Field(default=DEFAULT_MIN_SENDS, ge=1, le=MAX_WINDOW,
                           description="the rates are judged once the window holds this many sends")
    failure_rate: float | None = Field(default=DEFAULT_FAILURE_RATE, gt=0, le=100,
                                       description="percent of the window's sends that failed; null: off")
    opt_out_rate: float | None = Field(default=DEFAULT_OPT_OUT_RATE, gt=0, le=100,
                                       description="opt-outs per send of the window, in percent; null: off")
    block_signals: int | None = Field(default=DEFAULT_BLOCK_SIGNALS, ge=1, le=MAX_WINDOW,
                                      description="131048/131049 answers in the window; null: off")
    number_quality: bool = Field(default=True, description="pause when the number's quality rating drops to RED")
    template_quality: bool = Field(default=True, description="pause when the template's quality drops to RED (low)")

    @model_validator(mode="after")
    def sample_fits_window(self) -> BreakerSettings:
        if self.min_sends > self.window:
            raise ValueError("min_sends must not be larger than window")
        return self


DEFAULTS = BreakerSettings()


def settings_of(stored: dict[str, Any] | None) -> BreakerSettings:
    """A campaign's settings from its ``breaker`` column (NULL: the defaults)."""
    return DEFAULTS if not stored else BreakerSettings.model_validate(stored)


@dataclass(frozen=True, slots=True)
class Tally:
    """The quality counters at one moment (or their difference over a window)."""

    sends: int = 0
    failures: int = 0
    blocks: int = 0
    opt_outs: int = 0

    def __sub__(self, other: Tally) -> Tally:
        return Tally(self.sends - other.sends, self.failures - other.failures, self.blocks - other.blocks,
                     self.opt_outs - other.opt_outs)

    def stored(self) -> list[int]:
        return [self.sends, self.failures, self.blocks, self.opt_outs]

    @classmethod
    def of(cls, stored: list[int] | tuple[int, ...]) -> Tally:
        return cls(*(int(v or 0) for v in stored[:4]))


def window_of(totals: Tally, marks: list[Tally], size: int) -> tuple[Tally, list[Tally]]:
    """The window (``totals`` minus the newest mark at least ``size`` sends back, else the oldest), and
    the marks to keep: from that one on, plus ``totals`` when a quarter window has passed since the last.

    No marks: the campaign's first claim, counted from zero."""
    marks = marks or [Tally()]
    base = 0
    for i, mark in enumerate(marks):
        if totals.sends - mark.sends >= size:
            base = i
    kept = marks[base:]
    if totals.sends - kept[-1].sends >= max(1, size // 4):
        kept = [*kept, totals]
    return totals - marks[base], kept


def restarted(totals: Tally) -> list[Tally]:
    """The marks after a resume: the window starts empty there."""
    return [totals]


# The window rules in the user's words (the stats page's gauges).
LABELS = {"failure_rate": "Failure rate", "opt_out_rate": "Opt-out rate",
          "block_signals": "Block signals (131048/131049)"}


@dataclass(frozen=True, slots=True)
class Reading:
    """One rule against its threshold: a gauge on the stats page, and the figure when it trips."""

    rule: str  # failure_rate, opt_out_rate, block_signals
    value: float  # percent for the rates (one decimal), a count for block signals
    threshold: float | None  # None: the rule is off
    judged: bool  # the window holds enough sends to judge it
    exact: float  # the value unrounded: 19 failures of 191 sends are 9.95 %, shown 9.9 %, and not 10 %

    @property
    def tripped(self) -> bool:
        return self.judged and self.threshold is not None and self.exact >= self.threshold


def _percent(part: int, whole: int) -> float:
    return 100.0 * part / whole if whole > 0 else 0.0


def readings(settings: BreakerSettings, window: Tally) -> list[Reading]:
    """The three window rules, in the order they are checked."""
    sampled = window.sends >= settings.min_sends
    failures, opt_outs = _percent(window.failures, window.sends), _percent(window.opt_outs, window.sends)
    blocks = None if settings.block_signals is None else float(settings.block_signals)
    return [
        Reading("failure_rate", _shown(failures, settings.failure_rate), settings.failure_rate, sampled, failures),
        Reading("opt_out_rate", _shown(opt_outs, settings.opt_out_rate), settings.opt_out_rate, sampled, opt_outs),
        Reading("block_signals", float(window.blocks), blocks, True, float(window.blocks)),
    ]


def _shown(exact: float, threshold: float | None) -> float:
    """One decimal, never rounded up onto a threshold it has not reached (9.96 % of a 10 % limit: 9.9)."""
    shown = round(exact, 1)
    if threshold is not None and exact < threshold <= shown:
        return math.floor(exact * 10) / 10
    return shown


@dataclass(frozen=True, slots=True)
class Trip:
    """Why the breaker paused a campaign: the campaign's status reason, and the event's data."""

    rule: str
    value: float | str
    threshold: float | str | None
    reason: str
    sends: int | None = None  # the window's sends, for the window rules

    def event_data(self) -> dict[str, Any]:
        data: dict[str, Any] = {"rule": self.rule, "value": self.value, "threshold": self.threshold,
                                "reason": self.reason}
        if self.sends is not None:
            data["window_sends"] = self.sends
        return data


def figure(value: float) -> str:
    """14.0 → "14", 2.5 → "2.5"."""
    return f"{value:.1f}".removesuffix(".0")


def _window_reason(reading: Reading, sends: int) -> str:
    limit = figure(reading.threshold or 0)
    if reading.rule == "failure_rate":
        return f"{PREFIX}{figure(reading.value)} % of the last {sends} sends failed (limit {limit} %)"
    if reading.rule == "opt_out_rate":
        return (f"{PREFIX}opt-outs came to {figure(reading.value)} % of the last {sends} sends "
                f"(limit {limit} %)")
    return (f"{PREFIX}{figure(reading.value)} block signals (131048/131049) in the last {sends} sends "
            f"(limit {limit})")


def check(settings: BreakerSettings, window: Tally) -> Trip | None:
    """The first window rule that trips, if any."""
    if not settings.enabled:
        return None
    for reading in readings(settings, window):
        if reading.tripped:
            value: float = reading.value if reading.rule != "block_signals" else int(reading.value)
            threshold = reading.threshold if reading.rule != "block_signals" else int(reading.threshold or 0)
            return Trip(reading.rule, value, threshold, _window_reason(reading, window.sends), window.sends)
    return None


def number_red(display_phone_number: str | None) -> Trip:
    name = f" {display_phone_number}" if display_phone_number else ""
    return Trip("number_quality", RED, RED, f"{PREFIX}the number{name}'s quality rating dropped to RED")


def template_red(name: str, language: str) -> Trip:
    return Trip("template_quality", RED, RED,
                f"{PREFIX}the template '{name}' ({language}) quality dropped to RED (low)")


def describe(settings: BreakerSettings) -> str:
    """What pauses a campaign, in a sentence (the wizard's review)."""
    if not settings.enabled:
        return "off"
    rules = []
    if settings.failure_rate is not None:
        rules.append(f"failures reach {figure(settings.failure_rate)} %")
    if settings.opt_out_rate is not None:
        rules.append(f"opt-outs reach {figure(settings.opt_out_rate)} %")
    if settings.block_signals is not None:
        rules.append(f"{settings.block_signals} block signals (131048/131049) come")
    text = (f"pauses it when, over the latest {settings.window:,} sends (judged from {settings.min_sends:,}), "
            + (", ".join(rules) if rules else "nothing (every rate rule off)"))
    if settings.number_quality:
        text += "; or the number's quality drops to RED"
    if settings.template_quality:
        text += "; or the template's quality drops to RED"
    return text
