"""A campaign's stats page, its live feed (SSE over the reports hub) and the CSV report for the UI."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, StreamingResponse
from sse_starlette import EventSourceResponse, ServerSentEvent

from herald.campaigns import experiment_stats, followups, resend
from herald.campaigns import service as campaign_service
from herald.campaigns.followup_outcomes import excluded_failures
from herald.campaigns.lifecycle import LIVE
from herald.kit.db import Database
from herald.kit.deps import SessionDep, SettingsDep
from herald.quality.breaker import settings_of
from herald.replies import funnel as bot_funnel
from herald.reports import drilldown, export, progress
from herald.reports import repository as reports_repository
from herald.reports import service as reports_service
from herald.reports.hub import get_hub
from herald.reports.schemas import CampaignProgressOut
from herald.reports.subsets import OUTCOMES, Subset
from herald.web import repository
from herald.web.deps import UiUser, render
from herald.web.views.followups import choice_value

router = APIRouter(prefix="/ui/campaigns")

SSE_PING_SECONDS = 15
STALE_SHOWN = 20  # stale unknown messages listed on the page (all of them are sent again)
# The sends-over-time chart moves by the minute: refreshed every few stats events, not each one.
SENDS_EVERY = 5
# The funnel chart's bars, each a subset of contacts (``reports/subsets.py``).
FUNNEL_BARS = ("targeted", "sent", "received", "read", "replied")
CONTACTS_SHOWN = 50


async def _sends(database: Database, campaign_id: int) -> list[dict[str, object]]:
    async with database.read_session() as session:
        minutes = await reports_repository.send_minutes(session, campaign_id=campaign_id)
    return [{"minute": datetime.fromtimestamp(m * 60, UTC).isoformat(), "count": c} for m, c in minutes]


async def _steps(database: Database, *, org_id: int, campaign_id: int) -> list[dict[str, object]]:
    """The bot's funnel steps, the most reached first (``replies/funnel.py``)."""
    async with database.read_session() as session:
        steps = await bot_funnel.funnel(session, org_id=org_id, campaign_id=campaign_id)
    return [step.model_dump() for step in steps.steps]


async def _progress(database: Database, *, org_id: int, campaign_id: int) -> CampaignProgressOut | None:
    async with database.read_session() as session:
        figures = await progress.progress_of(session, org_id=org_id, campaign_ids=[campaign_id])
    return figures.get(campaign_id)


async def _status(database: Database, *, org_id: int, campaign_id: int) -> dict[str, str | None] | None:
    async with database.read_session() as session:
        campaign = await repository.campaign_status(session, org_id=org_id, campaign_id=campaign_id)
    return None if campaign is None else {"status": campaign[0], "reason": campaign[1]}


@router.get("/{campaign_id}/stats", response_class=HTMLResponse)
async def stats_page(
    request: Request, campaign_id: int, session: SessionDep, user: UiUser, settings: SettingsDep
) -> HTMLResponse:
    org = user.principal.org_id
    campaign = await campaign_service.get_campaign(session, org_id=org, campaign_id=campaign_id)
    stats = await reports_service.get_stats(session, org_id=org, campaign_id=campaign_id)
    sends = await _sends(request.app.state.database, campaign_id)
    numbers = await repository.number_labels(session, org_id=org)
    hours = settings.unknown_resend_after_hours
    stale_total, stale = await resend.list_stale(
        session, org_id=org, campaign_id=campaign_id, older_than=timedelta(hours=hours), limit=STALE_SHOWN
    )
    sent_again = await resend.history(session, org_id=org, campaign_id=campaign_id)
    emails = await repository.user_emails(session, org_id=org, user_ids={r.user_id for r in sent_again if r.user_id})
    database = request.app.state.database
    steps = await _steps(database, org_id=org, campaign_id=campaign_id)
    figures = await _progress(database, org_id=org, campaign_id=campaign_id)
    initial = {"stats": stats.model_dump(mode="json"), "sends": sends, "status": campaign.status, "steps": steps}
    # The counts of each outcome take a pass over the campaign's messages: only for whoever may follow up.
    choices = await followups.choices(session, org_id=org, parent_id=campaign_id) if user.can_write else None
    tested = None
    if campaign.holdout_percent or campaign.variants or stats.holdout:
        tested = await experiment_stats.get_experiment(session, org_id=org, campaign_id=campaign_id)
    return render(request, "campaigns/stats.html", {
        "campaign": campaign, "stats": stats, "initial": initial, "live": campaign.status in LIVE,
        "number": numbers.get(campaign.whatsapp_number_id or 0, "—"),
        "stale_total": stale_total, "stale": stale, "stale_hours": hours, "sent_again": sent_again, "emails": emails,
        "can_send_again": campaign.status in resend.RUNNING, "steps": steps, "progress": figures,
        "outcomes": FUNNEL_BARS,
        "lineage": await followups.lineage(session, campaign),
        "followups": await followups.list_followups(session, org_id=org, parent_id=campaign_id),
        "followup_choices": [(choice_value(c.outcome, c.button or c.step), c) for c in choices.choices] if choices else [],
        "can_follow_up": bool(choices and choices.can_follow_up), "excluded_failures": excluded_failures(),
        "experiment": tested,
        # The quality breaker's fieldset (wizard/_breaker.html), for a campaign that runs or is paused.
        "breaker": settings_of(campaign.breaker), "breaker_open": False, "values": {}, "errors": {},
    }, user=user)


@router.get("/{campaign_id}/events")
async def stats_events(request: Request, campaign_id: int, session: SessionDep, user: UiUser) -> EventSourceResponse:
    """The UI's SSE feed: ``stats`` every second (the API's hub), ``campaign`` on a status change,
    ``sends`` every few seconds. The stream reads through sessions of its own."""
    await reports_service.require_campaign(session, org_id=user.principal.org_id, campaign_id=campaign_id)
    events = _events(request, org_id=user.principal.org_id, campaign_id=campaign_id)
    return EventSourceResponse(events, ping=SSE_PING_SECONDS)


async def _events(request: Request, *, org_id: int, campaign_id: int) -> AsyncIterator[ServerSentEvent]:
    database: Database = request.app.state.database
    last_status = None
    async with get_hub(request.app).listen(campaign_id) as updates:
        tick = 0
        async for stats in updates:
            yield ServerSentEvent(data=stats.model_dump_json(), event="stats")
            status = await _status(database, org_id=org_id, campaign_id=campaign_id)
            if status is None:
                return
            if status != last_status:
                last_status = status
                yield ServerSentEvent(data=json.dumps(status), event="campaign")
            figures = await _progress(database, org_id=org_id, campaign_id=campaign_id)
            if figures is not None:
                yield ServerSentEvent(data=figures.model_dump_json(), event="progress")
            if tick % SENDS_EVERY == 0:
                yield ServerSentEvent(data=json.dumps(await _sends(database, campaign_id)), event="sends")
                steps = await _steps(database, org_id=org_id, campaign_id=campaign_id)
                yield ServerSentEvent(data=json.dumps(steps), event="steps")
            tick += 1


@router.get("/{campaign_id}/report.csv")
async def report_csv(request: Request, campaign_id: int, session: SessionDep, user: UiUser) -> StreamingResponse:
    await reports_service.require_campaign(session, org_id=user.principal.org_id, campaign_id=campaign_id)
    return export.response(request.app.state.database, campaign_id=campaign_id)


@router.get("/{campaign_id}/contacts", response_class=HTMLResponse)
async def contacts_page(
    request: Request, campaign_id: int, session: SessionDep, user: UiUser,
    outcome: str | None = None, reason: str | None = None, step: str | None = None,
    cursor: Annotated[str | None, Query()] = None,
) -> HTMLResponse:
    """The contacts behind a number of the stats page: an outcome, a not-sent reason, a funnel step."""
    org = user.principal.org_id
    campaign = await campaign_service.get_campaign(session, org_id=org, campaign_id=campaign_id)
    subset = Subset.of(outcome=outcome, reason=reason, step=step)
    page = await drilldown.contacts(session, org_id=org, campaign_id=campaign_id, subset=subset, cursor=cursor,
                                    limit=CONTACTS_SHOWN)
    stats = await reports_service.get_stats(session, org_id=org, campaign_id=campaign_id)
    steps = await bot_funnel.funnel(session, org_id=org, campaign_id=campaign_id)
    return render(request, "campaigns/contacts.html", {
        "campaign": campaign, "subset": subset, "page": page, "outcomes": OUTCOMES,
        "reasons": list(stats.not_sent_reasons), "steps": [s.step for s in steps.steps],
        "query": subset.query(),
    }, user=user)


@router.get("/{campaign_id}/contacts.csv")
async def contacts_csv(
    request: Request, campaign_id: int, session: SessionDep, user: UiUser,
    outcome: str | None = None, reason: str | None = None, step: str | None = None,
) -> StreamingResponse:
    subset = Subset.of(outcome=outcome, reason=reason, step=step)
    await reports_service.require_campaign(session, org_id=user.principal.org_id, campaign_id=campaign_id)
    return export.response(request.app.state.database, campaign_id=campaign_id, subset=subset)
