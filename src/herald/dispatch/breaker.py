"""The quality circuit breaker at claim time: a campaign whose recent sends trip one of its rules is
paused before the claim, with the figure that tripped it (``quality/breaker.py``, docs/quality.md).

Called by ``batch.claim_batch`` in the claim's transaction. It costs one primary-key read of the
campaign's counter row per claim (a claim is up to half a second of the campaign's pace), none per
message, and an UPDATE of that row each quarter window of sends, when the window moves on.
Checked before claiming: a tripped campaign claims nothing, so nothing has to be given back.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from herald.campaigns.quality_pause import pause_for_quality, quality_totals, store_marks
from herald.quality import breaker
from herald.quality.breaker import BreakerSettings, Tally


@dataclass(slots=True)
class WindowMove:
    """The marks to store once the claim has locked its messages (the lock order of
    ``campaigns/counters.py``: messages before the counter row)."""

    campaign_id: int
    marks: list[Tally]


async def check_before_claim(
    session: AsyncSession, *, campaign_id: int, settings: BreakerSettings | None
) -> tuple[bool, WindowMove | None]:
    """(whether the breaker tripped and paused the campaign, the window's marks to store if they moved)."""
    if settings is None or not settings.enabled:
        return False, None
    found = await quality_totals(session, campaign_id=campaign_id)
    if found is None:
        return False, None
    totals, marks = found
    window, kept = breaker.window_of(totals, marks or [], settings.window)
    trip = breaker.check(settings, window)
    if trip is not None:
        await pause_for_quality(session, campaign_id=campaign_id, trip=trip)
        return True, None
    return False, (WindowMove(campaign_id, kept) if kept != marks else None)


async def move_window(session: AsyncSession, move: WindowMove | None) -> None:
    if move is not None:
        await store_marks(session, campaign_id=move.campaign_id, marks=move.marks)
