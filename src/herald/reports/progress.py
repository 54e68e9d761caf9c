"""A campaign's progress: its counters, how many are done, its pace and its estimated finish.

The counters and the rates are the stats page's (``service.rates``); the campaigns list reads the
progress of all its rows in one query (``repository.progress_rows``). The pace is measured: messages
WhatsApp accepted over the last ``PACE_MINUTES`` minutes (the sends-per-minute counters), divided by
the time the campaign ran within them. An active campaign finishes when its pending messages have
gone at that pace (the campaign's own pace before anything was accepted), and no sooner than the
last one waiting is due (a send window's opening, a retry); a scheduled one at its
start time plus ``sending_hours`` of its audience.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from herald.kit.types import utcnow
from herald.models.campaign_stats import STAT_FIELDS
from herald.reports import repository
from herald.reports.schemas import CampaignProgressOut
from herald.reports.service import percent, rates

PACE_MINUTES = 5
ACTIVE, PAUSED, SCHEDULED = "active", "paused", "scheduled"


@dataclass(frozen=True, slots=True)
class Audience:
    """Whom a scheduled campaign will send to, as its audience preview counts them now."""

    eligible: int
    limit_per_24h: int | None = None  # the portfolio's messaging limit, when Herald knows it
    limit_waiting: int = 0  # eligible contacts past the limit at first
    # With a send window: the hours its windows let the audience take from the start at the pace
    # (``campaigns/send_window.py``, ``hours_to_send``); None without one.
    window_hours: float | None = None


def sending_hours(audience: Audience, rate_per_hour: float) -> float:
    """Hours to send to the audience at the pace; past the messaging limit, contacts wait for places to
    free, ``limit_per_24h`` more every 24 hours (docs/whatsapp.md, "Messaging limit"); with a send
    window, no sooner than its windows allow."""
    hours = audience.eligible / rate_per_hour
    if audience.limit_per_24h and audience.limit_waiting:
        days = math.ceil(audience.limit_waiting / audience.limit_per_24h)
        last_day = audience.limit_waiting - (days - 1) * audience.limit_per_24h
        hours = max(hours, days * 24 + last_day / rate_per_hour)
    if audience.window_hours is not None:
        hours = max(hours, audience.window_hours)
    return hours


async def progress_of(
    session: AsyncSession, *, org_id: int, campaign_ids: list[int], audiences: dict[int, Audience] | None = None,
    now: datetime | None = None,
) -> dict[int, CampaignProgressOut]:
    """The progress of the org's campaigns among ``campaign_ids``, in one query; ``audiences`` gives
    the scheduled ones' audiences (without one, a scheduled campaign has no estimated finish)."""
    if not campaign_ids:
        return {}
    now = now or utcnow()
    window_start = now - timedelta(minutes=PACE_MINUTES)
    rows = await repository.progress_rows(
        session, org_id=org_id, campaign_ids=campaign_ids, since_minute=int(window_start.timestamp()) // 60
    )
    audiences = audiences or {}
    return {row.id: _progress(row, now=now, window_start=window_start, audience=audiences.get(row.id)) for row in rows}


def _progress(row: repository.ProgressRow, *, now: datetime, window_start: datetime,
              audience: Audience | None) -> CampaignProgressOut:
    counts = {name: int(getattr(row, name) or 0) for name in STAT_FIELDS}
    done = counts["targeted"] - counts["pending"]
    pace = None
    if row.status in (ACTIVE, PAUSED):
        # The window starts at a whole minute: the counters are per minute.
        since = max(datetime.fromtimestamp(int(window_start.timestamp()) // 60 * 60, now.tzinfo),
                    row.started_at or window_start)
        minutes = max((now - since).total_seconds() / 60, 1 / 60)
        pace = round(int(row.recent_sends or 0) / minutes, 1)
    return CampaignProgressOut(
        campaign_id=row.id, status=row.status, **counts, **rates(counts),
        done=done, done_pct=percent(done, counts["targeted"]), pace_per_minute=pace,
        estimated_finish=_finish(row, counts["pending"], pace, now, audience),
    )


def _finish(row: repository.ProgressRow, pending: int, pace: float | None, now: datetime,
            audience: Audience | None) -> datetime | None:
    per_hour = row.rate_per_hour or (row.rate_per_second * 3600 if row.rate_per_second else None)
    if row.status == SCHEDULED and audience is not None and row.start_at is not None and per_hour:
        return row.start_at + timedelta(hours=sending_hours(audience, per_hour))
    if row.status != ACTIVE or not pending:
        return None
    per_minute = pace or (per_hour / 60 if per_hour else None)
    if not per_minute:
        return None
    finish = now + timedelta(minutes=pending / per_minute)
    # Messages waiting (a send window, the messaging limit, a retry) go no sooner than they are due.
    return max(finish, row.latest_due) if row.latest_due is not None else finish
