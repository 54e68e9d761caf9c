"""A campaign's send window at claim time: contacts outside their local window wait for it.

Called by ``batch._prepare`` only for a campaign with a window (``campaigns/send_window.py``). Each
contact's zone comes from its ``timezone`` valued tag (loaded with the batch's other valued tags) or
its phone (``contacts/local_zone.py``, cached per number prefix); the window's next opening is
computed once per zone in the batch. A contact outside its window goes back to ``pending`` until
the opening (``next_attempt_at``) with the reason ``waiting for 10:00 America/Sao_Paulo``, shown by
the stats and the report like the messaging limit's; the attempt its claim counted is given back.
With ``window_end_action = end``, a contact whose first window since the campaign started has
closed is not sent (``WINDOW_CLOSED``) instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Table, bindparam, update
from sqlalchemy.ext.asyncio import AsyncSession

from herald.campaigns.reasons import WINDOW_CLOSED
from herald.campaigns.send_window import END, SendWindow, waiting_reason
from herald.contacts.local_zone import zone_info, zone_of
from herald.dispatch.outcomes import NotSent
from herald.kit.types import UTCDateTime
from herald.models import CampaignMessage, MessageStatus

_messages: Table = CampaignMessage.__table__  # type: ignore[assignment]


@dataclass(frozen=True, slots=True)
class ZoneState:
    """The window in one zone at claim time: open, closed until ``opens``, or (``end``) over for good."""

    opens: datetime | None
    over: bool
    reason: str


def zone_state(window: SendWindow, zone: str, now: datetime, started_at: datetime | None) -> ZoneState:
    tz = zone_info(zone)
    if window.end_action == END and started_at is not None and now >= window.first_close(tz, started_at):
        return ZoneState(None, True, WINDOW_CLOSED)
    return ZoneState(window.opening(tz, now), False, waiting_reason(window.start, zone))


@dataclass(slots=True)
class Sorted:
    """A batch's rows by window: those that may go now, those that wait (with when and why), those over."""

    open_rows: list[tuple[int, int, int]]
    waiting: list[tuple[int, datetime, str]]
    over: list[NotSent]


def sort_rows(
    window: SendWindow, rows: list[tuple[int, int, int]], *, phones: dict[int, tuple[str | None, str | None]],
    tags: dict[int, dict[str, str]], tag_key: str, now: datetime, started_at: datetime | None,
) -> Sorted:
    states: dict[str, ZoneState] = {}
    result = Sorted([], [], [])
    for row in rows:
        message_id, contact_id, _ = row
        zone, _bad_tag = zone_of(tags.get(contact_id, {}).get(tag_key), phones.get(contact_id, (None, None))[0])
        state = states.get(zone)
        if state is None:
            state = states[zone] = zone_state(window, zone, now, started_at)
        if state.over:
            result.over.append(NotSent(message_id, contact_id, state.reason, None, now))
        elif state.opens is None:
            result.open_rows.append(row)
        else:
            result.waiting.append((message_id, state.opens, state.reason))
    return result


async def hold(session: AsyncSession, waiting: list[tuple[int, datetime, str]]) -> None:
    """Back to ``pending`` until each one's opening, with its reason; the claim's attempt given back."""
    if not waiting:
        return
    await session.execute(
        update(_messages)
        .where(_messages.c.id == bindparam("_id"), _messages.c.status == MessageStatus.claimed)
        .values(status=MessageStatus.pending, lease_until=None, attempts=_messages.c.attempts - 1,
                next_attempt_at=bindparam("_until", type_=UTCDateTime()), wait_reason=bindparam("_reason"))
        .execution_options(synchronize_session=False),
        [{"_id": message_id, "_until": until, "_reason": reason} for message_id, until, reason in waiting],
    )
