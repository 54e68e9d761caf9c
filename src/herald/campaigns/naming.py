"""How a campaign is called where people read it: an unnamed draft is "Untitled campaign", a test
is its campaign's name with the time it was sent (UTC, like every time a page prints before its
script localises it)."""

from __future__ import annotations

from datetime import datetime

from herald.campaigns.schemas import MAX_NAME_LENGTH

UNTITLED = "Untitled campaign"


def shown(name: str | None) -> str:
    return name or UNTITLED


def _suffixed(name: str | None, suffix: str) -> str:
    return shown(name)[: MAX_NAME_LENGTH - len(suffix)] + suffix


def test_name(parent: str | None, at: datetime) -> str:
    """``Spring sale (test 14:32 UTC)``: two tests of one campaign are told apart by their time."""
    return _suffixed(parent, f" (test {at:%H:%M} UTC)")


def copy_name(source: str | None) -> str:
    return _suffixed(source, " (copy)")
