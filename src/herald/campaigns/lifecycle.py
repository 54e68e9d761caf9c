"""The campaign state machine. Every transition is one conditional UPDATE whose row count is
checked, so two workers or two clicks can never both win."""

from __future__ import annotations

import logging
from enum import StrEnum
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from herald.events.outbox import CampaignEvent, record_campaign_events
from herald.events.types import EventType
from herald.kit.db import CAMPAIGN_STATUS_CHANGED
from herald.kit.dialect import is_postgres
from herald.kit.errors import Conflict, NotFound
from herald.models import Campaign
from herald.ops.metrics import CAMPAIGN_TRANSITIONS

log = logging.getLogger("herald.campaigns")


class Status(StrEnum):
    draft = "draft"
    ready = "ready"
    scheduled = "scheduled"
    active = "active"
    paused = "paused"
    ended = "ended"


# target state → the states it may be reached from
ALLOWED: dict[Status, frozenset[Status]] = {
    Status.active: frozenset({Status.ready, Status.scheduled, Status.paused}),
    Status.scheduled: frozenset({Status.ready}),
    Status.ready: frozenset({Status.scheduled, Status.draft, Status.ready}),
    Status.draft: frozenset({Status.ready, Status.draft}),
    Status.paused: frozenset({Status.active}),
    Status.ended: frozenset({Status.active, Status.paused, Status.scheduled}),
}
# Started and not ended: its messages may still be sent (a paused campaign resumes).
RUNNING = frozenset({Status.active, Status.paused})
# Running, or scheduled to start.
LIVE = RUNNING | {Status.scheduled}
EDITABLE = frozenset({Status.draft, Status.ready})
# PostgreSQL's notification channel of status changes: "<campaign id> <new status>", sent by
# ``transition`` and delivered when its transaction commits (``dispatch/status_news.py`` listens).
STATUS_CHANNEL = "herald_campaign_status"
DELETABLE = frozenset({Status.draft, Status.ready, Status.scheduled, Status.ended})


async def transition(
    session: AsyncSession,
    *,
    campaign_id: int,
    to: Status,
    org_id: int | None = None,
    from_states: frozenset[Status] | None = None,
    values: dict[str, Any] | None = None,
    announce: bool = True,
) -> None:
    """Move a campaign to ``to`` if it is in one of ``from_states``; 409 with the current status otherwise.

    ``announce``: tell the workers once committed, so that a pause or an end stops their sends at once
    (``CAMPAIGN_STATUS_CHANGED``, ``STATUS_CHANNEL``). False for the pause a sender makes at its budget
    (``dispatch/budget.py``): the messages of that claim that fit the budget still go, and only that
    sender has them; it sees the pause at its next refresh."""
    allowed = from_states if from_states is not None else ALLOWED[to]
    stmt = (
        update(Campaign)
        .where(Campaign.id == campaign_id, Campaign.status.in_([s.value for s in allowed]))
        .values(status=to.value, **(values or {}))
        .execution_options(synchronize_session=False)
    )
    if org_id is not None:
        stmt = stmt.where(Campaign.org_id == org_id)
    result = await session.execute(stmt)
    if result.rowcount == 1:  # type: ignore[attr-defined]
        was = ", ".join(sorted(s.value for s in allowed))
        log.info("campaign %s is now %s (was %s)", campaign_id, to.value, was,
                 extra={"campaign_id": campaign_id, "to": to.value, "from_states": was})
        CAMPAIGN_TRANSITIONS.labels(to=to.value).inc()
        if announce and (to in RUNNING or to == Status.ended):  # what the senders act on
            # Told to the worker of this process once committed (a pause stops its sends at once), and
            # on PostgreSQL to every worker listening (``dispatch/status_news.py``), when it commits.
            session.info.setdefault(CAMPAIGN_STATUS_CHANGED, {})[campaign_id] = to.value
            if is_postgres(session):
                await session.execute(select(func.pg_notify(STATUS_CHANNEL, f"{campaign_id} {to.value}")))
        if (event_type := _event_of(to, allowed)) is not None:
            reason = (values or {}).get("status_reason")
            await record_campaign_events(session, [CampaignEvent(campaign_id, event_type, {"reason": reason})])
        return
    current = await current_status(session, campaign_id=campaign_id, org_id=org_id)
    raise Conflict(
        f"a campaign that is {current} cannot become {to.value}",
        code="invalid_transition",
        details={"status": current, "requested": to.value},
    )


def _event_of(to: Status, allowed: frozenset[Status]) -> EventType | None:
    """The event a transition reports: reaching ``active`` only from ``paused`` is a resume, else a start."""
    if to == Status.active:
        return EventType.campaign_resumed if allowed == {Status.paused} else EventType.campaign_started
    return {Status.paused: EventType.campaign_paused, Status.ended: EventType.campaign_ended}.get(to)


async def current_status(session: AsyncSession, *, campaign_id: int, org_id: int | None) -> str:
    stmt = select(Campaign.status).where(Campaign.id == campaign_id)
    if org_id is not None:
        stmt = stmt.where(Campaign.org_id == org_id)
    status = (await session.execute(stmt)).scalar_one_or_none()
    if status is None:
        raise NotFound("campaign not found")
    return status
