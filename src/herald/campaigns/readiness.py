"""Ready means ready now: a draft or ready campaign re-assessed against today's templates, number,
bot flows and contacts.

A campaign's ``status`` and ``missing`` are written when it is saved; Meta may remove or pause its
template afterwards, a number or bot flow may go, and its audience may empty (contacts opt out or
are taken by another campaign). The list, the campaign page and the API re-check a draft or ready
campaign when they show it (``refresh``) and store the answer, so "Ready to Launch" is never stale;
start and schedule re-check again and refuse a campaign with nobody to send to (``no_eligible``).
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from herald.campaigns import preview
from herald.campaigns.bindings import NO_ELIGIBLE, Assessment, Draft, assess
from herald.campaigns.lifecycle import EDITABLE, Status, transition
from herald.campaigns.schemas import AudiencePreview
from herald.campaigns.service import get_campaign
from herald.kit.errors import Conflict
from herald.kit.text import plural
from herald.models import Campaign


async def reassess(session: AsyncSession, campaign: Campaign) -> Assessment:
    return await assess(session, org_id=campaign.org_id, draft=Draft.of(campaign), campaign_id=campaign.id)


async def refresh(session: AsyncSession, campaign: Campaign) -> Campaign:
    """The campaign, with ``status`` (draft ⇄ ready) and ``missing`` as they hold now; others unchanged."""
    if campaign.status not in EDITABLE:
        return campaign
    missing = (await reassess(session, campaign)).missing_or_wrong()
    status = Status.draft if missing else Status.ready
    if status == campaign.status and missing == list(campaign.missing or []):
        return campaign
    try:
        # Conditional on the status just read: a concurrent edit or start wins, and is shown as it is.
        await transition(session, campaign_id=campaign.id, org_id=campaign.org_id, to=status,
                         from_states=frozenset({Status(campaign.status)}), values={"missing": missing})
    except Conflict:
        pass
    return await get_campaign(session, org_id=campaign.org_id, campaign_id=campaign.id)


async def refresh_all(session: AsyncSession, campaigns: Sequence[Campaign]) -> list[Campaign]:
    return [await refresh(session, c) for c in campaigns]


def nobody_reason(counts: AudiencePreview) -> str:
    """Why an audience reaches nobody, in the user's words."""
    if not counts.matched:
        return "no contact matches the audience"
    why = ", ".join(f"{n:,} {reason}" for reason, n in counts.excluded.items() if n)
    matched = plural(counts.matched, "contact")
    return f"none of the audience's {matched} can be messaged now ({why})"


async def no_eligible(session: AsyncSession, campaign: Campaign) -> Conflict:
    """The 409 of a start or schedule with nobody to send to, saying why."""
    counts = await preview.preview_campaign(session, org_id=campaign.org_id, campaign_id=campaign.id)
    return Conflict(
        f"nobody to send to: {nobody_reason(counts)}", code="no_eligible_contacts",
        details={"field": "audience", "matched": counts.matched, "eligible": counts.eligible,
                 "excluded": counts.excluded},
    )


def is_nobody(assessment: Assessment) -> bool:
    return NO_ELIGIBLE in assessment.missing
