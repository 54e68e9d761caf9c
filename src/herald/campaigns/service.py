"""Campaign settings: create, read, edit, copy, delete. Status changes are in ``transitions.py``.

Services only flush; the request (or job, or CLI command) that calls them owns the transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from herald.campaigns import experiment, naming, repository
from herald.campaigns.bindings import Draft, assess
from herald.campaigns.lifecycle import DELETABLE, EDITABLE, RUNNING, Status, current_status, transition
from herald.campaigns.schemas import (
    MIN_RATE_PER_SECOND,
    CampaignCreate,
    CampaignSettings,
    CampaignUpdate,
)
from herald.kit.errors import Conflict, Invalid, NotFound
from herald.kit.pagination import clamp_limit, decode_cursor, encode_cursor
from herald.models import Campaign, WhatsAppNumber
from herald.models.campaign import DEFAULT_MARKETING_RETRY_DAYS
from herald.quality.breaker import DEFAULTS, BreakerSettings

DEFAULT_AUTO_END_HOURS = {"real": 72.0, "test": 1.0}
PACE_FIELDS = frozenset({"rate_per_second", "rate_per_hour"})
# What may change while a campaign runs: its pace, and whether it resumes when its template is reinstated.
RUNNING_FIELDS = PACE_FIELDS | {"auto_resume", "budget", "breaker"}
# The send window (campaigns/send_window.py): set before the campaign starts, copied with it.
WINDOW_FIELDS = ("window_start", "window_end", "window_weekdays", "window_end_action")


async def get_campaign(session: AsyncSession, *, org_id: int, campaign_id: int) -> Campaign:
    campaign = await repository.get_campaign(session, org_id=org_id, campaign_id=campaign_id)
    if campaign is None:
        raise NotFound("campaign not found")
    return campaign


async def list_campaigns(
    session: AsyncSession,
    *,
    org_id: int,
    kind: str | None = None,
    status: Status | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> tuple[Sequence[Campaign], str | None]:
    """Newest first. Returns the page and the cursor of the next one (None at the end)."""
    limit = clamp_limit(limit)
    rows = await repository.list_campaigns(
        session, org_id=org_id, kind=kind, status=status.value if status else None,
        before_id=decode_cursor(cursor), limit=limit,
    )
    next_cursor = encode_cursor(rows[-1].id) if len(rows) == limit else None
    return rows, next_cursor


async def create_campaign(session: AsyncSession, *, org_id: int, data: CampaignCreate) -> Campaign:
    draft = _apply(Draft(), data, data.model_fields_set | {"name"})
    assessment = await assess(session, org_id=org_id, draft=draft)
    assessment.raise_problems()
    campaign = Campaign(
        org_id=org_id,
        kind="real",
        status=_status_for(assessment.missing).value,
        missing=assessment.missing,
        auto_end_after_hours=data.auto_end_after_hours or DEFAULT_AUTO_END_HOURS["real"],
        auto_resume=data.auto_resume,
        marketing_retry_days=(
            DEFAULT_MARKETING_RETRY_DAYS if data.marketing_retry_days is None else data.marketing_retry_days
        ),
        frequency_cap_exempt=data.frequency_cap_exempt,
        **_window_values(None, data, data.model_fields_set),
        budget=data.budget,
        breaker=stored_breaker(data.breaker),
        experiment_seed=experiment.new_seed(),
        **draft.columns(),
    )
    return await repository.insert_campaign(session, campaign)


async def update_campaign(
    session: AsyncSession, *, org_id: int, campaign_id: int, data: CampaignUpdate
) -> Campaign:
    """Edits a draft/ready campaign (re-deriving draft ⇄ ready); a running one takes only a new pace."""
    campaign = await get_campaign(session, org_id=org_id, campaign_id=campaign_id)
    given = set(data.model_fields_set)
    if campaign.status in RUNNING and not given:
        return campaign
    if campaign.status in RUNNING and given <= RUNNING_FIELDS:
        if "auto_resume" in given:
            await _set_running(session, campaign=campaign, values={"auto_resume": data.auto_resume})
        if "budget" in given:  # raised (or removed) so that a campaign paused at its budget may resume
            await _set_running(session, campaign=campaign, values={"budget": data.budget})
        if "breaker" in given:  # e.g. a threshold raised before resuming a campaign the breaker paused
            await _set_running(session, campaign=campaign, values={"breaker": stored_breaker(data.breaker)})
        if given & PACE_FIELDS:
            return await _change_pace(session, campaign=campaign, data=data)
        return await get_campaign(session, org_id=org_id, campaign_id=campaign_id)
    if campaign.status not in EDITABLE:
        raise not_editable(campaign.status, given)
    draft = _apply(Draft.of(campaign), data, given)
    assessment = await assess(session, org_id=org_id, draft=draft, campaign_id=campaign.id)
    assessment.raise_problems()
    values: dict[str, Any] = {**draft.columns(), "missing": assessment.missing}
    if "auto_end_after_hours" in given:
        values["auto_end_after_hours"] = data.auto_end_after_hours or DEFAULT_AUTO_END_HOURS[campaign.kind]
    if "auto_resume" in given:
        values["auto_resume"] = data.auto_resume
    if "marketing_retry_days" in given:
        values["marketing_retry_days"] = (
            DEFAULT_MARKETING_RETRY_DAYS if data.marketing_retry_days is None else data.marketing_retry_days
        )
    if "frequency_cap_exempt" in given:
        values["frequency_cap_exempt"] = data.frequency_cap_exempt
    values.update(_window_values(campaign, data, given))
    if "budget" in given:
        values["budget"] = data.budget
    if "breaker" in given:
        values["breaker"] = stored_breaker(data.breaker)
    values.update(_checked_pace(data, given & PACE_FIELDS, assessment.number))
    # The UPDATE is conditional on the status read above: a concurrent start makes this edit a 409.
    await transition(
        session, campaign_id=campaign.id, org_id=org_id, to=_status_for(assessment.missing),
        from_states=EDITABLE, values=values,
    )
    return await get_campaign(session, org_id=org_id, campaign_id=campaign_id)


async def delete_campaign(session: AsyncSession, *, org_id: int, campaign_id: int) -> None:
    """Gone for good with its messages, stats and funnel events; refused while it runs."""
    if await repository.delete_campaign(session, org_id=org_id, campaign_id=campaign_id, statuses=DELETABLE):
        return
    status = await current_status(session, campaign_id=campaign_id, org_id=org_id)
    raise Conflict(
        f"a campaign that is {status} cannot be deleted: end it first",
        code="invalid_transition",
        details={"status": status, "requested": "deleted"},
    )


async def duplicate_campaign(session: AsyncSession, *, org_id: int, campaign_id: int) -> Campaign:
    """A new real campaign with the same settings; whatever no longer holds shows up in ``missing``."""
    source = await get_campaign(session, org_id=org_id, campaign_id=campaign_id)
    draft = Draft.of(source)
    draft.name = naming.copy_name(source.name)
    # A copy of a follow-up is a plain campaign: its audience is the segment alone, the snapshot stays.
    draft.snapshot_of = None
    assessment = await assess(session, org_id=org_id, draft=draft)
    missing = assessment.missing_or_wrong()
    auto_end = source.auto_end_after_hours if source.kind == "real" else DEFAULT_AUTO_END_HOURS["real"]
    campaign = Campaign(
        org_id=org_id, kind="real", status=_status_for(missing).value, missing=missing,
        auto_end_after_hours=auto_end, auto_resume=source.auto_resume,
        marketing_retry_days=source.marketing_retry_days, budget=source.budget, breaker=source.breaker,
        experiment_seed=experiment.new_seed(),
        **{name: getattr(source, name) for name in WINDOW_FIELDS}, **draft.columns(),
    )
    return await repository.insert_campaign(session, campaign)


def stored_breaker(settings: BreakerSettings | None) -> dict[str, Any] | None:
    """The ``breaker`` column for the settings given: NULL for the defaults, so later defaults apply."""
    if settings is None or settings == DEFAULTS:
        return None
    return settings.model_dump()


def _window_values(campaign: Campaign | None, data: CampaignSettings, given: set[str]) -> dict[str, Any]:
    """The send window's columns ``given`` sets, checked with the campaign's others: start and end
    both set or both null, and never equal (an end before the start is an overnight window)."""
    changed = {name: getattr(data, name) for name in WINDOW_FIELDS if name in given}
    if not changed:
        return {}
    merged = {name: changed.get(name, getattr(campaign, name, None)) for name in WINDOW_FIELDS}
    start, end = merged["window_start"], merged["window_end"]
    if (start is None) != (end is None):
        missing = "window_end" if end is None else "window_start"
        raise Invalid(f"{missing} is required with {'window_start' if missing == 'window_end' else 'window_end'}"
                      " (both null: no window)", field=missing)
    if start is not None and start == end:
        raise Invalid("window_end must differ from window_start (an end before the start runs overnight)",
                      field="window_end")
    if "window_end_action" in changed and changed["window_end_action"] is None:
        changed["window_end_action"] = "carry_on"
    return changed


def not_editable(status: str, given: set[str] | None = None) -> Conflict:
    hint = " (only the pace and auto_resume can change while it runs)" if status in RUNNING else ""
    return Conflict(
        f"a campaign that is {status} cannot be edited{hint}",
        code="not_editable",
        details={"status": status, "fields": sorted(given or ())},
    )


def check_rate_per_second(rate: float, number: WhatsAppNumber) -> None:
    if not MIN_RATE_PER_SECOND <= rate <= number.throughput_mps:
        raise Invalid(
            f"rate_per_second must be between {MIN_RATE_PER_SECOND} and {number.throughput_mps} messages/second"
            " (the number's throughput)",
            field="rate_per_second",
        )


def check_rate_per_hour(rate: int, number: WhatsAppNumber) -> None:
    ceiling = number.throughput_mps * 3600
    if not 1 <= rate <= ceiling:
        raise Invalid(
            f"rate_per_hour must be between 1 and {ceiling} messages/hour (the number's throughput)",
            field="rate_per_hour",
        )


async def _change_pace(session: AsyncSession, *, campaign: Campaign, data: CampaignUpdate) -> Campaign:
    given = data.model_fields_set & PACE_FIELDS
    number = await repository.get_number(
        session, org_id=campaign.org_id, number_id=campaign.whatsapp_number_id or 0
    )
    values = _checked_pace(data, given, number)
    if len(given) != 1 or None in values.values():
        raise Invalid("give exactly one pace: rate_per_second or rate_per_hour", field="rate_per_second")
    # A campaign paces by one unit at a time: setting one clears the other.
    (other,) = PACE_FIELDS - given
    values[other] = None
    changed = await repository.update_pace(
        session, org_id=campaign.org_id, campaign_id=campaign.id, statuses=RUNNING, values=values
    )
    if not changed:
        status = await current_status(session, campaign_id=campaign.id, org_id=campaign.org_id)
        raise not_editable(status, set(given))
    return await get_campaign(session, org_id=campaign.org_id, campaign_id=campaign.id)


async def _set_running(session: AsyncSession, *, campaign: Campaign, values: dict[str, Any]) -> None:
    changed = await repository.update_pace(
        session, org_id=campaign.org_id, campaign_id=campaign.id, statuses=RUNNING, values=values
    )
    if not changed:
        status = await current_status(session, campaign_id=campaign.id, org_id=campaign.org_id)
        raise not_editable(status, set(values))


def _checked_pace(data: CampaignUpdate, given: set[str], number: WhatsAppNumber | None) -> dict[str, Any]:
    values: dict[str, Any] = {name: getattr(data, name) for name in given}
    if number is not None and data.rate_per_second is not None and "rate_per_second" in given:
        check_rate_per_second(data.rate_per_second, number)
    if number is not None and data.rate_per_hour is not None and "rate_per_hour" in given:
        check_rate_per_hour(data.rate_per_hour, number)
    return values


def _apply(draft: Draft, data: CampaignSettings, given: set[str]) -> Draft:
    """The draft with the fields the caller sent; ``variables`` is replaced as a whole, not merged."""
    if "name" in given:
        draft.name = data.name
    if "whatsapp_number_id" in given:
        draft.whatsapp_number_id = data.whatsapp_number_id
    if "audience" in given:
        draft.audience = data.audience.stored() if data.audience else None
    if "template" in given:
        draft.template_name = data.template.name if data.template else None
        draft.template_language = data.template.language if data.template else None
    if "variables" in given:
        draft.variables = {name: binding.stored() for name, binding in data.variables.items()}
    if "header_media_id" in given:
        draft.header_media_id = data.header_media_id
    if "bot_flow_id" in given:
        draft.bot_flow_id = data.bot_flow_id
    if "holdout_percent" in given:
        draft.holdout_percent = data.holdout_percent
    if "variants" in given:
        draft.variants = [v.stored() for v in data.variants] if data.variants else None
    return draft


def _status_for(missing: list[str]) -> Status:
    return Status.draft if missing else Status.ready

