from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Response

from herald.auth.deps import CurrentPrincipal, WriterPrincipal
from herald.auth.principal import Principal
from herald.campaigns import (
    experiment_stats,
    followups,
    preview,
    progress,
    readiness,
    resend,
    service,
    transitions,
)
from herald.campaigns.followup_outcomes import Choice
from herald.campaigns.lifecycle import Status
from herald.campaigns.schemas import (
    AudiencePreview,
    AudiencePreviewIn,
    AudienceSnapshotOut,
    CampaignCreate,
    CampaignOut,
    CampaignUpdate,
    FollowUpChoices,
    FollowUpIn,
    FollowUpList,
    Kind,
    ScheduleIn,
    SendAgainIn,
    SendAgainOut,
    SendTestIn,
    StaleUnknownList,
    StaleUnknownOut,
    StartIn,
)
from herald.kit.deps import ReadSessionDep, SessionDep, SettingsDep
from herald.kit.errors import Forbidden
from herald.kit.pagination import Page
from herald.reports.schemas import ExperimentOut

router = APIRouter(prefix="/campaigns", tags=["campaigns"])


def _check_exempt(body: CampaignCreate | CampaignUpdate, principal: Principal) -> None:
    """Only an admin sets a campaign outside the frequency cap (campaigns/frequency_cap.py)."""
    if "frequency_cap_exempt" in body.model_fields_set and body.frequency_cap_exempt and not principal.is_admin:
        raise Forbidden("only an admin may exempt a campaign from the frequency cap", code="admin_only",
                        details={"field": "frequency_cap_exempt"})


@router.post("", response_model=CampaignOut, status_code=201)
async def create_campaign(body: CampaignCreate, session: SessionDep, principal: WriterPrincipal) -> CampaignOut:
    _check_exempt(body, principal)
    campaign = await service.create_campaign(session, org_id=principal.org_id, data=body)
    return CampaignOut.of(campaign)


@router.get("", response_model=Page[CampaignOut])
async def list_campaigns(
    session: SessionDep,
    principal: CurrentPrincipal,
    kind: Kind | None = None,
    status: Status | None = None,
    limit: Annotated[int, Query()] = 50,
    cursor: str | None = None,
) -> Page[CampaignOut]:
    rows, next_cursor = await service.list_campaigns(
        session, org_id=principal.org_id, kind=kind, status=status, cursor=cursor, limit=limit
    )
    # Ready means ready now: draft and ready campaigns are re-checked as they are listed (readiness.py).
    rows = await readiness.refresh_all(session, rows)
    figures = await progress.progress_of(session, org_id=principal.org_id, campaigns=rows)
    return Page(items=[CampaignOut.of(r, figures.get(r.id)) for r in rows], next_cursor=next_cursor)


@router.post("/audience-preview", response_model=AudiencePreview, response_model_exclude_none=True)
async def preview_audience(
    body: AudiencePreviewIn, session: SessionDep, principal: CurrentPrincipal
) -> AudiencePreview:
    return await preview.preview_audience(
        session, org_id=principal.org_id, audience=body.audience.stored() if body.audience else None,
        variables={name: binding.stored() for name, binding in body.variables.items()},
        whatsapp_number_id=body.whatsapp_number_id,
    )


@router.get("/{campaign_id}", response_model=CampaignOut)
async def get_campaign(campaign_id: int, session: SessionDep, principal: CurrentPrincipal) -> CampaignOut:
    """A draft or ready campaign is re-checked as it is read: ``status`` and ``missing`` say what holds now."""
    campaign = await service.get_campaign(session, org_id=principal.org_id, campaign_id=campaign_id)
    return CampaignOut.of(await readiness.refresh(session, campaign))


@router.patch("/{campaign_id}", response_model=CampaignOut)
async def update_campaign(
    campaign_id: int, body: CampaignUpdate, session: SessionDep, principal: WriterPrincipal
) -> CampaignOut:
    _check_exempt(body, principal)
    campaign = await service.update_campaign(session, org_id=principal.org_id, campaign_id=campaign_id, data=body)
    return CampaignOut.of(campaign)


@router.delete("/{campaign_id}", status_code=204)
async def delete_campaign(campaign_id: int, session: SessionDep, principal: WriterPrincipal) -> Response:
    await service.delete_campaign(session, org_id=principal.org_id, campaign_id=campaign_id)
    return Response(status_code=204)


@router.post("/{campaign_id}/duplicate", response_model=CampaignOut, status_code=201)
async def duplicate_campaign(campaign_id: int, session: SessionDep, principal: WriterPrincipal) -> CampaignOut:
    campaign = await service.duplicate_campaign(session, org_id=principal.org_id, campaign_id=campaign_id)
    return CampaignOut.of(campaign)


@router.post("/{campaign_id}/audience-preview", response_model=AudiencePreview, response_model_exclude_none=True)
async def preview_campaign_audience(
    campaign_id: int, session: SessionDep, principal: CurrentPrincipal
) -> AudiencePreview:
    return await preview.preview_campaign(session, org_id=principal.org_id, campaign_id=campaign_id)


@router.post("/{campaign_id}/start", response_model=CampaignOut)
async def start_campaign(
    campaign_id: int, session: SessionDep, principal: WriterPrincipal, body: StartIn | None = None
) -> CampaignOut:
    """Starts a ready campaign now. Its test campaigns end first, freeing their contacts. 409
    ``no_eligible_contacts`` (saying why) when nobody in its audience can be messaged now."""
    rate = (body or StartIn()).rate_per_second
    campaign = await transitions.start_campaign(
        session, org_id=principal.org_id, campaign_id=campaign_id, rate_per_second=rate
    )
    return CampaignOut.of(campaign)


@router.post("/{campaign_id}/schedule", response_model=CampaignOut)
async def schedule_campaign(
    campaign_id: int, body: ScheduleIn, session: SessionDep, principal: WriterPrincipal
) -> CampaignOut:
    """Schedules a ready campaign. Its test campaigns end now, freeing their contacts. 409
    ``no_eligible_contacts`` (saying why) when nobody in its audience can be messaged now."""
    campaign = await transitions.schedule_campaign(
        session, org_id=principal.org_id, campaign_id=campaign_id, start_at=body.start_at,
        rate_per_hour=body.rate_per_hour,
    )
    return CampaignOut.of(campaign)


@router.post("/{campaign_id}/unschedule", response_model=CampaignOut)
async def unschedule_campaign(campaign_id: int, session: SessionDep, principal: WriterPrincipal) -> CampaignOut:
    return CampaignOut.of(
        await transitions.unschedule_campaign(session, org_id=principal.org_id, campaign_id=campaign_id)
    )


@router.post("/{campaign_id}/pause", response_model=CampaignOut)
async def pause_campaign(campaign_id: int, session: SessionDep, principal: WriterPrincipal) -> CampaignOut:
    return CampaignOut.of(await transitions.pause_campaign(session, org_id=principal.org_id, campaign_id=campaign_id))


@router.post("/{campaign_id}/resume", response_model=CampaignOut)
async def resume_campaign(campaign_id: int, session: SessionDep, principal: WriterPrincipal) -> CampaignOut:
    return CampaignOut.of(
        await transitions.resume_campaign(session, org_id=principal.org_id, campaign_id=campaign_id)
    )


@router.post("/{campaign_id}/end", response_model=CampaignOut)
async def end_campaign(campaign_id: int, session: SessionDep, principal: WriterPrincipal) -> CampaignOut:
    return CampaignOut.of(await transitions.end_campaign(session, org_id=principal.org_id, campaign_id=campaign_id))


@router.post("/{campaign_id}/test", response_model=CampaignOut, status_code=201)
async def send_test(
    campaign_id: int, body: SendTestIn, session: SessionDep, principal: WriterPrincipal
) -> CampaignOut:
    campaign = await transitions.send_test(
        session, org_id=principal.org_id, campaign_id=campaign_id, phones=body.phones
    )
    return CampaignOut.of(campaign)


@router.get("/{campaign_id}/experiment", response_model=ExperimentOut, tags=["reports"])
async def campaign_experiment(
    campaign_id: int, session: ReadSessionDep, principal: CurrentPrincipal
) -> ExperimentOut:
    """The holdout comparison (each funnel step's conversion, sent group against holdout, with the lift
    and its 95 % interval) and the per-variant figures with 95 % intervals. A scan of the campaign's
    messages and funnel events, unlike ``/stats``."""
    return await experiment_stats.get_experiment(session, org_id=principal.org_id, campaign_id=campaign_id)


@router.get("/{campaign_id}/unknown-messages", response_model=StaleUnknownList)
async def stale_unknown_messages(
    campaign_id: int, session: SessionDep, principal: CurrentPrincipal, settings: SettingsDep
) -> StaleUnknownList:
    """Messages that may have reached WhatsApp and stayed unresolved (no status webhook) for
    ``HERALD_UNKNOWN_RESEND_AFTER_HOURS``: candidates for sending again."""
    hours = settings.unknown_resend_after_hours
    total, items = await resend.list_stale(
        session, org_id=principal.org_id, campaign_id=campaign_id, older_than=timedelta(hours=hours)
    )
    return StaleUnknownList(
        older_than_hours=hours, total=total,
        items=[StaleUnknownOut.model_validate(item, from_attributes=True) for item in items],
    )


@router.post("/{campaign_id}/unknown-messages/send-again", response_model=SendAgainOut)
async def send_unknown_again(
    campaign_id: int, session: SessionDep, principal: WriterPrincipal, settings: SettingsDep,
    body: SendAgainIn | None = None,
) -> SendAgainOut:
    """Sends the stale unknown messages again (all, or those listed in ``message_ids``); audited.
    Only while the campaign is active or paused (409 ``campaign_not_running`` otherwise)."""
    moved = await resend.send_again(
        session, principal=principal, campaign_id=campaign_id,
        older_than=timedelta(hours=settings.unknown_resend_after_hours),
        message_ids=body.message_ids if body is not None else None,
    )
    return SendAgainOut(sent_again=moved)


@router.post("/{campaign_id}/follow-ups", response_model=CampaignOut, status_code=201)
async def create_followup(
    campaign_id: int, body: FollowUpIn, session: SessionDep, principal: WriterPrincipal
) -> CampaignOut:
    """A new draft whose audience is this campaign's contacts with ``outcome`` now, frozen (its audience
    snapshot). It starts from this campaign's number, template, bindings and bot flow. 409
    ``not_followable`` for a test campaign or one that has not started; 422 naming ``button`` or
    ``step`` when the outcome needs one."""
    choice = Choice.of(body.outcome, button=body.button, step=body.step)
    campaign = await followups.create_followup(
        session, principal=principal, parent_id=campaign_id, choice=choice, name=body.name
    )
    return CampaignOut.of(campaign)


@router.get("/{campaign_id}/follow-ups", response_model=FollowUpList)
async def list_followups(campaign_id: int, session: SessionDep, principal: CurrentPrincipal) -> FollowUpList:
    """The campaign's follow-ups, oldest first, each with its snapshot's size now."""
    return FollowUpList(items=await followups.list_followups(session, org_id=principal.org_id, parent_id=campaign_id))


@router.get("/{campaign_id}/follow-up-choices", response_model=FollowUpChoices)
async def followup_choices(campaign_id: int, session: SessionDep, principal: CurrentPrincipal) -> FollowUpChoices:
    """Each outcome a follow-up could be created from now (each button tapped, each funnel step) and
    how many contacts it would take."""
    return await followups.choices(session, org_id=principal.org_id, parent_id=campaign_id)


@router.get("/{campaign_id}/audience-snapshot", response_model=AudienceSnapshotOut)
async def audience_snapshot(
    campaign_id: int, session: SessionDep, principal: CurrentPrincipal,
    limit: Annotated[int, Query()] = 100, cursor: str | None = None,
) -> AudienceSnapshotOut:
    """A follow-up's frozen audience: its count and a page of its contacts (404 ``no_audience_snapshot``
    for a campaign that is not a follow-up)."""
    return await followups.snapshot(session, org_id=principal.org_id, campaign_id=campaign_id, cursor=cursor,
                                    limit=limit)
