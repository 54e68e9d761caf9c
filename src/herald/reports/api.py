"""Report endpoints under ``/campaigns/{id}``: stats, timeline, live stats (SSE) and the CSV report.

Every one is readable by any role of the campaign's org (viewers included); another org gets 404.
Auth goes through ``CurrentPrincipal`` only, so a UI session principal can be plugged in there.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse
from sse_starlette import EventSourceResponse, ServerSentEvent

from herald.auth.deps import CurrentPrincipal
from herald.kit.deps import ReadSessionDep
from herald.reports import drilldown, export, service
from herald.reports.hub import StatsHub, get_hub
from herald.reports.schemas import CampaignContactsOut, CampaignStatsOut, TimelineOut
from herald.reports.subsets import Subset

router = APIRouter(prefix="/campaigns", tags=["reports"])

SSE_PING_SECONDS = 15


@router.get("/{campaign_id}/stats", response_model=CampaignStatsOut)
async def campaign_stats(campaign_id: int, session: ReadSessionDep, principal: CurrentPrincipal) -> CampaignStatsOut:
    """The contract's stats body, from the campaign's counters."""
    return await service.get_stats(session, org_id=principal.org_id, campaign_id=campaign_id)


@router.get("/{campaign_id}/timeline", response_model=TimelineOut)
async def campaign_timeline(campaign_id: int, session: ReadSessionDep, principal: CurrentPrincipal) -> TimelineOut:
    """Sends per minute, and the median / 90th percentile seconds from sent to delivered, read and replied."""
    return await service.get_timeline(session, org_id=principal.org_id, campaign_id=campaign_id)


@router.get("/{campaign_id}/events", response_class=EventSourceResponse)
async def campaign_events(
    campaign_id: int, request: Request, session: ReadSessionDep, principal: CurrentPrincipal
) -> EventSourceResponse:
    """Server-Sent Events: a ``stats`` event (the stats body as JSON) every second while connected."""
    await service.require_campaign(session, org_id=principal.org_id, campaign_id=campaign_id)
    # The request's session closes when this returns: the stream reads through the hub's own sessions.
    return EventSourceResponse(_stats_events(get_hub(request.app), campaign_id), ping=SSE_PING_SECONDS)


async def _stats_events(hub: StatsHub, campaign_id: int) -> AsyncIterator[ServerSentEvent]:
    async with hub.listen(campaign_id) as updates:
        async for stats in updates:
            yield ServerSentEvent(data=stats.model_dump_json(), event="stats")


@router.get("/{campaign_id}/report.csv", response_class=StreamingResponse)
async def campaign_report(
    campaign_id: int, request: Request, session: ReadSessionDep, principal: CurrentPrincipal
) -> StreamingResponse:
    """One row per targeted contact, streamed; see ``herald.reports.export`` for the columns."""
    await service.require_campaign(session, org_id=principal.org_id, campaign_id=campaign_id)
    return export.response(request.app.state.database, campaign_id=campaign_id)


Outcome = Annotated[str | None, Query(
    description="targeted, pending, sent, received, read, replied, unknown, not_sent or holdout")]
Reason = Annotated[str | None, Query(description="a not-sent reason, as the stats' not_sent_reasons name it")]
Step = Annotated[str | None, Query(description="a bot funnel step the contacts reached")]


@router.get("/{campaign_id}/contacts", response_model=CampaignContactsOut)
async def campaign_contacts(
    campaign_id: int, session: ReadSessionDep, principal: CurrentPrincipal,
    outcome: Outcome = None, reason: Reason = None, step: Step = None, limit: int = 50, cursor: str | None = None,
) -> CampaignContactsOut:
    """The targeted contacts behind one of the stats' numbers, in contact id order; the filters combine."""
    subset = Subset.of(outcome=outcome, reason=reason, step=step)
    return await drilldown.contacts(
        session, org_id=principal.org_id, campaign_id=campaign_id, subset=subset, cursor=cursor, limit=limit)


@router.get("/{campaign_id}/contacts.csv", response_class=StreamingResponse)
async def campaign_contacts_csv(
    campaign_id: int, request: Request, session: ReadSessionDep, principal: CurrentPrincipal,
    outcome: Outcome = None, reason: Reason = None, step: Step = None,
) -> StreamingResponse:
    """The report CSV (same header and cells) of the subset's contacts only."""
    subset = Subset.of(outcome=outcome, reason=reason, step=step)
    await service.require_campaign(session, org_id=principal.org_id, campaign_id=campaign_id)
    return export.response(request.app.state.database, campaign_id=campaign_id, subset=subset)

