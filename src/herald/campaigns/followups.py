"""Follow-ups by outcome: from a campaign that ran, a new draft whose audience is the campaign's
contacts with one outcome (herald.campaigns.followup_outcomes), frozen when it is created.

The frozen audience is a snapshot table (``campaign_audience_snapshots``): later statuses, replies and
funnel events of the parent change nothing in it; a contact deleted since drops out. The follow-up
starts from the parent's number, template, bindings, header media and bot flow, all editable in the
draft, and may be narrowed by a tag segment: its audience is then snapshot AND segment.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from herald.auth.principal import Principal
from herald.campaigns import readiness, repository
from herald.campaigns.followup_outcomes import WORDS, Choice, Outcome
from herald.campaigns.lifecycle import RUNNING, Status
from herald.campaigns.naming import shown
from herald.campaigns.schemas import (
    MAX_NAME_LENGTH,
    AudienceSnapshotOut,
    FollowUpChoiceOut,
    FollowUpChoices,
    FollowUpLineage,
    FollowUpOut,
    SnapshotContactOut,
)
from herald.campaigns.service import get_campaign
from herald.kit.errors import Conflict, Invalid, NotFound
from herald.kit.pagination import clamp_limit, decode_cursor, encode_cursor
from herald.models import Campaign

# A campaign whose messages went out: running (active, paused) or ended.
FOLLOWABLE = RUNNING | {Status.ended}


def can_follow_up(campaign: Campaign) -> bool:
    return campaign.kind == "real" and campaign.status in FOLLOWABLE


def description(campaign: Campaign) -> str:
    """The follow-up's outcome in words (``delivered, not read``)."""
    assert campaign.followup_outcome is not None
    outcome = Outcome(campaign.followup_outcome)
    return Choice(outcome, campaign.followup_value).words()


def _require_followable(parent: Campaign) -> None:
    if parent.kind != "real":
        raise Conflict("a test campaign cannot be followed up", code="not_followable",
                       details={"kind": parent.kind, "status": parent.status})
    if parent.status not in FOLLOWABLE:
        raise Conflict(f"a campaign that is {parent.status} cannot be followed up: it has sent nothing yet",
                       code="not_followable", details={"kind": parent.kind, "status": parent.status})


def followup_name(parent: Campaign, choice: Choice) -> str:
    suffix = f" — {choice.words()}"
    return shown(parent.name)[: max(0, MAX_NAME_LENGTH - len(suffix))] + suffix[:MAX_NAME_LENGTH]


async def create_followup(
    session: AsyncSession, *, principal: Principal, parent_id: int, choice: Choice, name: str | None = None
) -> Campaign:
    """The new draft (or ready) campaign, its snapshot taken in the same transaction."""
    if name is not None and len(name.strip()) > MAX_NAME_LENGTH:
        raise Invalid(f"name must be at most {MAX_NAME_LENGTH} characters", field="name")
    parent = await get_campaign(session, org_id=principal.org_id, campaign_id=parent_id)
    _require_followable(parent)
    child = Campaign(
        org_id=parent.org_id, kind="real", status=Status.draft.value, missing=[],
        name=(name or "").strip() or followup_name(parent, choice),
        whatsapp_number_id=parent.whatsapp_number_id, audience=None,
        template_name=parent.template_name, template_language=parent.template_language,
        variables=dict(parent.variables or {}), header_media_id=parent.header_media_id, bot_flow_id=parent.bot_flow_id,
        auto_end_after_hours=parent.auto_end_after_hours, auto_resume=parent.auto_resume,
        marketing_retry_days=parent.marketing_retry_days,
        window_start=parent.window_start, window_end=parent.window_end,
        window_weekdays=list(parent.window_weekdays) if parent.window_weekdays else parent.window_weekdays,
        window_end_action=parent.window_end_action,
        # Only an admin sets a campaign outside the frequency cap: an editor's follow-up is held to it.
        frequency_cap_exempt=parent.frequency_cap_exempt and principal.is_admin,
        parent_campaign_id=parent.id, followup_outcome=choice.outcome.value, followup_value=choice.value,
    )
    await repository.insert_campaign(session, child)
    await repository.insert_snapshot(
        session, campaign_id=child.id, parent_id=parent.id, condition=choice.condition(parent.id)
    )
    # Draft ⇄ ready from what holds now (a template removed since the parent ran shows as missing).
    return await readiness.refresh(session, child)


async def list_followups(session: AsyncSession, *, org_id: int, parent_id: int) -> list[FollowUpOut]:
    await get_campaign(session, org_id=org_id, campaign_id=parent_id)
    children = await repository.followups_of(session, org_id=org_id, parent_id=parent_id)
    counts = await repository.snapshot_counts(session, campaign_ids=[c.id for c in children])
    return [followup_out(c, counts[c.id]) for c in children]


def followup_out(campaign: Campaign, contacts: int) -> FollowUpOut:
    assert campaign.followup_outcome is not None
    field = Choice(Outcome(campaign.followup_outcome), campaign.followup_value).field
    return FollowUpOut(
        id=campaign.id, name=shown(campaign.name), status=Status(campaign.status), outcome=campaign.followup_outcome,
        button=campaign.followup_value if field == "button" else None,
        step=campaign.followup_value if field == "step" else None,
        description=description(campaign), contacts=contacts, created_at=campaign.created_at,
    )


async def choices(session: AsyncSession, *, org_id: int, parent_id: int) -> FollowUpChoices:
    """Every outcome the campaign's follow-up could take now, with its contacts: the three plain ones,
    each button tapped, each funnel step reached (and not reached)."""
    parent = await get_campaign(session, org_id=org_id, campaign_id=parent_id)
    if not can_follow_up(parent):
        return FollowUpChoices(can_follow_up=False, choices=[])
    picks = [Choice(o) for o in (Outcome.not_delivered, Outcome.delivered_not_read, Outcome.read_not_replied)]
    texts: dict[str, str] = {}
    for key, text in await repository.tapped_buttons(session, campaign_id=parent.id):
        picks.append(Choice(Outcome.replied_button, key))
        if text and text != key:
            texts[key] = text
    for step in await repository.funnel_steps(session, campaign_id=parent.id):
        picks += [Choice(Outcome.reached_step, step), Choice(Outcome.not_reached_step, step)]
    counts = await repository.outcome_counts(
        session, parent_id=parent.id, conditions=[pick.condition(parent.id) for pick in picks]
    )
    items = [
        FollowUpChoiceOut(
            outcome=pick.outcome.value,  # type: ignore[arg-type]
            button=pick.value if pick.field == "button" else None,
            step=pick.value if pick.field == "step" else None,
            description=_choice_words(pick, texts), contacts=contacts,
        )
        for pick, contacts in zip(picks, counts, strict=True)
    ]
    return FollowUpChoices(can_follow_up=True, choices=items)


def _choice_words(pick: Choice, texts: dict[str, str]) -> str:
    """A button by the words the contacts tapped, then its payload: ``replied with button “Yes please” (YES)``."""
    if pick.field == "button" and pick.value in texts:
        return f"{WORDS[pick.outcome]} “{texts[pick.value]}” ({pick.value})"
    return pick.words()


async def snapshot(
    session: AsyncSession, *, org_id: int, campaign_id: int, cursor: str | None, limit: int
) -> AudienceSnapshotOut:
    """The follow-up's frozen audience, a page of it and its count; 404 for a campaign that is no follow-up."""
    limit = clamp_limit(limit)
    campaign = await get_campaign(session, org_id=org_id, campaign_id=campaign_id)
    if campaign.followup_outcome is None:
        raise NotFound("this campaign is not a follow-up: it has no audience snapshot", code="no_audience_snapshot")
    rows = await repository.snapshot_page(session, campaign_id=campaign.id, after=decode_cursor(cursor), limit=limit)
    count = (await repository.snapshot_counts(session, campaign_ids=[campaign.id]))[campaign.id]
    return AudienceSnapshotOut(
        campaign_id=campaign.id, parent_campaign_id=campaign.parent_campaign_id, outcome=campaign.followup_outcome,
        description=description(campaign), count=count,
        items=[SnapshotContactOut(contact_id=i, phone=p, name=n, wa_user_id=u) for i, p, n, u in rows],
        next_cursor=encode_cursor(rows[-1][0]) if len(rows) == limit else None,
    )


async def lineage(session: AsyncSession, campaign: Campaign) -> FollowUpLineage | None:
    """What a follow-up's pages say of it: "Follow-up of <parent> — <outcome>, N contacts"."""
    if campaign.followup_outcome is None:
        return None
    parent = None
    if campaign.parent_campaign_id is not None:
        parent = await repository.get_campaign(session, org_id=campaign.org_id, campaign_id=campaign.parent_campaign_id)
    count = (await repository.snapshot_counts(session, campaign_ids=[campaign.id]))[campaign.id]
    return FollowUpLineage(
        parent_id=parent.id if parent else None, parent_name=shown(parent.name) if parent else None,
        description=description(campaign), contacts=count,
    )
