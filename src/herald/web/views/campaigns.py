"""The campaigns list and the actions on a campaign: start, schedule, pause, resume, end, delete, duplicate."""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from datetime import date, datetime, time, timedelta
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from herald.campaigns import preview, readiness, resend, service, transitions
from herald.campaigns import progress as campaign_progress
from herald.campaigns import repository as campaigns_repository
from herald.campaigns.lifecycle import LIVE, Status
from herald.campaigns.naming import shown
from herald.campaigns.schemas import AudiencePreview, CampaignUpdate
from herald.kit.deps import SessionDep, SettingsDep
from herald.kit.errors import HeraldError, Invalid
from herald.kit.text import about
from herald.models import Campaign
from herald.models.campaign import DEFAULT_RATE_PER_SECOND
from herald.reports import progress
from herald.web import confirm, repository
from herald.web.deps import UiUser, UiWriter, field_errors, redirect, render
from herald.web.views.breaker_form import breaker_from_form
from herald.web.wording import invalid_input, status_label, user_message

router = APIRouter(prefix="/ui/campaigns")
TIMEZONES = sorted(available_timezones() - {"localtime", "Factory"})


def list_url(kind: str) -> str:
    return "/ui/campaigns" + ("?kind=test" if kind == "test" else "")


@router.get("", response_class=HTMLResponse)
async def campaigns_page(
    request: Request, session: SessionDep, user: UiUser,
    kind: Literal["real", "test"] = "real", cursor: str | None = None,
) -> HTMLResponse:
    rows, next_cursor = await service.list_campaigns(
        session, org_id=user.principal.org_id, kind=kind, cursor=cursor, limit=50
    )
    # Ready means ready now: a draft or ready campaign is re-checked as it is listed (campaigns/readiness.py).
    rows = await readiness.refresh_all(session, rows)
    numbers = await repository.number_labels(session, org_id=user.principal.org_id)
    figures = await campaign_progress.progress_of(session, org_id=user.principal.org_id, campaigns=rows)
    return render(request, "campaigns/list.html", {
        "campaigns": rows, "kind": kind, "next_cursor": next_cursor, "numbers": numbers,
        "start_questions": await _start_questions(session, rows), "progress": figures, "live": LIVE,
    }, user=user)


async def _start_rate(session: AsyncSession, campaign: Campaign) -> float:
    number = await campaigns_repository.get_number(
        session, org_id=campaign.org_id, number_id=campaign.whatsapp_number_id or 0)
    return transitions.start_rate(number) if number is not None else DEFAULT_RATE_PER_SECOND


async def _start_questions(session: AsyncSession, campaigns: list[Campaign]) -> dict[int, str]:
    """Start now's confirmation of each ready campaign: how many contacts, at what pace, how long."""
    questions = {}
    for c in campaigns:
        if c.status == Status.ready:
            counts = await preview.preview_campaign(session, org_id=c.org_id, campaign_id=c.id)
            questions[c.id] = confirm.start_question(c.name, counts.eligible, await _start_rate(session, c))
    return questions


async def _act(
    request: Request, session: AsyncSession, campaign_id: int, done: str,
    action: Callable[[], Awaitable[Any]], back: str | None = None,
) -> Response:
    """Run a transition; a refusal (409, 422) is rolled back and shown on the page the user came from."""
    target = back or _back(request)
    try:
        await action()
    except HeraldError as exc:
        await session.rollback()
        return redirect(target, request, error=user_message(exc))
    return redirect(target, request, ok=done)


def _back(request: Request) -> str:
    referer = request.headers.get("referer", "")
    origin = f"{request.url.scheme}://{request.url.netloc}"
    path = referer.removeprefix(origin)
    return path if path.startswith("/ui/campaigns") else "/ui/campaigns"


@router.post("/{campaign_id}/start")
async def start(request: Request, campaign_id: int, session: SessionDep, user: UiWriter) -> Response:
    org = user.principal.org_id
    try:
        campaign = await service.get_campaign(session, org_id=org, campaign_id=campaign_id)
    except HeraldError as exc:
        return redirect(_back(request), request, error=user_message(exc))
    rate = await _start_rate(session, campaign)
    return await _act(request, session, campaign_id, f"“{shown(campaign.name)}” started.",
                      lambda: transitions.start_campaign(session, org_id=org, campaign_id=campaign_id,
                                                         rate_per_second=rate))


@router.post("/{campaign_id}/pause")
async def pause(request: Request, campaign_id: int, session: SessionDep, user: UiWriter) -> Response:
    org = user.principal.org_id
    return await _act(request, session, campaign_id, "Campaign paused.",
                      lambda: transitions.pause_campaign(session, org_id=org, campaign_id=campaign_id))


@router.post("/{campaign_id}/resume")
async def resume(request: Request, campaign_id: int, session: SessionDep, user: UiWriter) -> Response:
    org = user.principal.org_id
    return await _act(request, session, campaign_id, "Campaign resumed.",
                      lambda: transitions.resume_campaign(session, org_id=org, campaign_id=campaign_id))


@router.post("/{campaign_id}/auto-resume")
async def auto_resume(request: Request, campaign_id: int, session: SessionDep, user: UiWriter,
                      value: Annotated[Literal["on", "off"], Form(alias="auto_resume")] = "off") -> Response:
    org = user.principal.org_id
    data = CampaignUpdate(auto_resume=value == "on")
    done = "Automatic resume is on." if value == "on" else "Automatic resume is off."
    return await _act(request, session, campaign_id, done,
                      lambda: service.update_campaign(session, org_id=org, campaign_id=campaign_id, data=data))


@router.post("/{campaign_id}/budget")
async def budget(request: Request, campaign_id: int, session: SessionDep, user: UiWriter,
                 value: Annotated[str, Form(alias="budget", max_length=30)] = "") -> Response:
    """The campaign's budget (docs/costs.md): set, raised while it runs, or removed (empty)."""
    org = user.principal.org_id
    raw = value.strip()

    async def change() -> Any:
        try:
            amount = float(raw) if raw else None
            data = CampaignUpdate(budget=amount)
        except (ValueError, ValidationError):
            raise Invalid("a budget is an amount above 0, e.g. 250 or 99.50", field="budget") from None
        return await service.update_campaign(session, org_id=org, campaign_id=campaign_id, data=data)

    done = f"Budget set to {float(raw):,.2f}." if _is_amount(raw) else "Budget removed." if not raw else ""
    return await _act(request, session, campaign_id, done, change)


@router.post("/{campaign_id}/breaker")
async def breaker(request: Request, campaign_id: int, session: SessionDep, user: UiWriter) -> Response:
    """The quality breaker's thresholds of a running or paused campaign (docs/quality.md), e.g. one
    raised before resuming a campaign the breaker paused."""
    org = user.principal.org_id
    form = await request.form()

    async def change() -> Any:
        try:
            data = CampaignUpdate(**breaker_from_form(form))
        except ValidationError as exc:  # the first field refused, in the form's words
            field, words = next((k, v) for k, v in invalid_input(exc).items() if k)
            raise Invalid(f"{field.replace('breaker.', 'quality breaker ').replace('_', ' ')}: {words}",
                          field=field) from None
        return await service.update_campaign(session, org_id=org, campaign_id=campaign_id, data=data)

    return await _act(request, session, campaign_id, "Quality breaker saved.", change)


def _is_amount(raw: str) -> bool:
    try:
        return math.isfinite(float(raw))
    except ValueError:
        return False


@router.post("/{campaign_id}/end")
async def end(request: Request, campaign_id: int, session: SessionDep, user: UiWriter) -> Response:
    org = user.principal.org_id
    return await _act(request, session, campaign_id, "Campaign ended.",
                      lambda: transitions.end_campaign(session, org_id=org, campaign_id=campaign_id))


@router.post("/{campaign_id}/unknown/send-again")
async def send_unknown_again(
    request: Request, campaign_id: int, session: SessionDep, user: UiWriter, settings: SettingsDep
) -> Response:
    """The stats page's "Send again" of messages WhatsApp never answered about (``campaigns/resend.py``)."""
    back = f"/ui/campaigns/{campaign_id}/stats"
    try:
        moved = await resend.send_again(
            session, principal=user.principal, campaign_id=campaign_id,
            older_than=timedelta(hours=settings.unknown_resend_after_hours),
        )
    except HeraldError as exc:
        await session.rollback()
        return redirect(back, request, error=user_message(exc))
    if not moved:
        return redirect(back, request, ok="Nothing to send again.")
    return redirect(back, request, ok=f"{moved:,} {'message' if moved == 1 else 'messages'} will be sent again.")


@router.post("/{campaign_id}/unschedule")
async def unschedule(request: Request, campaign_id: int, session: SessionDep, user: UiWriter) -> Response:
    org = user.principal.org_id
    return await _act(request, session, campaign_id, "Schedule cancelled: the campaign is ready again.",
                      lambda: transitions.unschedule_campaign(session, org_id=org, campaign_id=campaign_id))


@router.post("/{campaign_id}/delete")
async def delete(request: Request, campaign_id: int, session: SessionDep, user: UiWriter) -> Response:
    org = user.principal.org_id
    campaign = await service.get_campaign(session, org_id=org, campaign_id=campaign_id)
    return await _act(request, session, campaign_id, f"Campaign “{shown(campaign.name)}” deleted.",
                      lambda: service.delete_campaign(session, org_id=org, campaign_id=campaign_id),
                      back=list_url(campaign.kind))


@router.post("/{campaign_id}/duplicate")
async def duplicate(request: Request, campaign_id: int, session: SessionDep, user: UiWriter) -> Response:
    copy = await service.duplicate_campaign(session, org_id=user.principal.org_id, campaign_id=campaign_id)
    return redirect(f"/ui/campaigns/{copy.id}/edit/audience", request,
                    ok="Duplicated: adjust the audience (or anything else) and save.")


def _estimate(audience: AudiencePreview, start_at: datetime | None, rate_per_hour: int | None,
              window_hours: float | None = None) -> dict[str, Any]:
    """How long the eligible contacts take at the pace; with the portfolio's messaging limit, those past
    it wait for places, ``limit_per_24h`` more each 24 hours (docs/whatsapp.md, "Messaging limit")."""
    eligible, limit = audience.eligible, audience.messaging_limit
    nobody = readiness.nobody_reason(audience) if not eligible else None
    days_waiting = math.ceil(limit.waiting / limit.limit_per_24h) if limit and limit.waiting else 0
    base = {"eligible": eligible, "nobody": nobody, "limit": limit, "days_waiting": days_waiting}
    if not rate_per_hour or rate_per_hour < 1:
        return {**base, "hours": None, "duration": None, "finish": None}
    hours = progress.sending_hours(progress.Audience(
        eligible=eligible, limit_per_24h=limit.limit_per_24h if limit else None,
        limit_waiting=limit.waiting if limit else 0, window_hours=window_hours), rate_per_hour)
    finish = start_at + timedelta(hours=hours) if start_at else None
    return {**base, "hours": hours, "duration": about(hours * 3600), "finish": finish}


def _start_at(day: str, clock: str, zone: str) -> datetime:
    try:
        tz = ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise Invalid(f"Unknown timezone “{zone}”: pick one from the list, e.g. Europe/Paris.", field="timezone") from exc
    try:
        return datetime.combine(date.fromisoformat(day), time.fromisoformat(clock), tzinfo=tz)
    except ValueError as exc:
        raise Invalid("Give a date and a time.", field="start_at") from exc


def _rate_per_hour(raw: str) -> int:
    try:
        rate = int(raw.strip())
    except ValueError:
        rate = 0
    if rate < 1:
        raise Invalid("Contacts per hour must be a whole number, at least 1.", field="rate_per_hour")
    return rate


def _rate_or_none(raw: str) -> int | None:
    try:
        return _rate_per_hour(raw)
    except Invalid:
        return None


async def _schedule_form(
    request: Request, session: AsyncSession, user: Any, campaign_id: int, values: dict[str, Any],
    errors: dict[str, str] | None = None, partial: bool = False,
) -> HTMLResponse:
    org = user.principal.org_id
    campaign = await service.get_campaign(session, org_id=org, campaign_id=campaign_id)
    audience = await preview.preview_campaign(session, org_id=org, campaign_id=campaign_id)
    start_at = None
    try:
        start_at = _start_at(values["day"], values["clock"], values["timezone"] or "UTC")
    except HeraldError:
        pass
    rate = _rate_or_none(str(values.get("rate_per_hour") or ""))
    question = confirm.schedule_question(campaign.name, audience.eligible, rate, start_at, values["timezone"] or "UTC")
    in_window = None
    if start_at is not None and rate and audience.send_window is not None:
        in_window = await campaign_progress.window_hours(session, campaign, start_at=start_at, rate_per_hour=rate)
    context = {"campaign": campaign, "values": values, "errors": errors or {}, "timezones": TIMEZONES,
               "estimate": _estimate(audience, start_at, rate, in_window), "question": question,
               "send_window": audience.send_window}
    template = "campaigns/_estimate.html" if partial else "campaigns/schedule.html"
    return render(request, template, context, user=user, status_code=422 if errors else 200)


@router.get("/{campaign_id}/schedule", response_class=HTMLResponse)
async def schedule_page(request: Request, campaign_id: int, session: SessionDep, user: UiUser) -> Response:
    campaign = await service.get_campaign(session, org_id=user.principal.org_id, campaign_id=campaign_id)
    # Ready means ready now (campaigns/readiness.py): only a campaign that is may be scheduled.
    campaign = await readiness.refresh(session, campaign)
    if campaign.status != Status.ready:
        why = {Status.draft: "finish it first"}.get(Status(campaign.status), "only a campaign Ready to Launch can be")
        return redirect(list_url(campaign.kind), request, error=f"“{shown(campaign.name)}” cannot be scheduled: "
                        f"it is {status_label(campaign.status)}; {why}.")
    tomorrow = date.today() + timedelta(days=1)
    # The timezone is left empty: the page's script puts the browser's own in (else UTC).
    values = {"day": tomorrow.isoformat(), "clock": "09:00", "timezone": "", "rate_per_hour": "1000"}
    return await _schedule_form(request, session, user, campaign_id, values)


@router.get("/{campaign_id}/schedule/estimate", response_class=HTMLResponse)
async def schedule_estimate(
    request: Request, campaign_id: int, session: SessionDep, user: UiUser,
    day: str = "", clock: str = "", timezone: str = "", rate_per_hour: str = "",
) -> HTMLResponse:
    values = {"day": day, "clock": clock, "timezone": timezone, "rate_per_hour": rate_per_hour}
    return await _schedule_form(request, session, user, campaign_id, values, partial=True)


@router.post("/{campaign_id}/schedule", response_class=HTMLResponse)
async def schedule(
    request: Request, campaign_id: int, session: SessionDep, user: UiWriter,
    day: Annotated[str, Form()] = "", clock: Annotated[str, Form()] = "",
    timezone: Annotated[str, Form()] = "", rate_per_hour: Annotated[str, Form()] = "",
) -> Response:
    """Every value is taken as typed and checked here, so a bad one re-renders the form with its message."""
    values = {"day": day, "clock": clock, "timezone": timezone, "rate_per_hour": rate_per_hour}
    zone = timezone.strip() or "UTC"
    try:
        start_at = _start_at(day, clock, zone)
        await transitions.schedule_campaign(
            session, org_id=user.principal.org_id, campaign_id=campaign_id, start_at=start_at,
            rate_per_hour=_rate_per_hour(rate_per_hour),
        )
    except HeraldError as exc:
        await session.rollback()
        return await _schedule_form(request, session, user, campaign_id, values, errors=field_errors(exc))
    campaign = await service.get_campaign(session, org_id=user.principal.org_id, campaign_id=campaign_id)
    return redirect("/ui/campaigns", request,
                    ok=f"“{shown(campaign.name)}” scheduled for {start_at:%Y-%m-%d %H:%M} ({zone}).")
