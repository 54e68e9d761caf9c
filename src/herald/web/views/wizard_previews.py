"""What the wizard's audience and message steps show besides their form: the audience's counts, and
the message's bindings and preview. The step pages (``wizard``) and their live parts (``wizard_live``)
render the same."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from herald.campaigns import frequency_cap, preview, reasons
from herald.campaigns.bindings import unknown_valued_tag_key, unknown_valued_tag_keys, valued_tag_keys
from herald.contacts import service as contact_service
from herald.media import service as media_service
from herald.media.limits import accepted_for
from herald.models import Campaign, Template
from herald.web import message, repository
from herald.web.deps import WebUser

MISSING_LISTED = 20


async def audience_context(
    session: AsyncSession, user: WebUser, campaign: Campaign, audience: dict[str, Any] | None
) -> dict[str, Any]:
    """The audience's counts (matched, eligible, excluded by reason) and the campaigns engaging part of it now."""
    org = user.principal.org_id
    snapshot_of = campaign.id if campaign.followup_outcome is not None else None
    counts = await preview.preview_audience(
        session, org_id=org, audience=audience, variables=campaign.variables or {}, campaign_id=campaign.id,
        cap=await frequency_cap.cap_for_campaign(session, campaign), snapshot_of=snapshot_of,
        category=await preview.template_category(session, campaign), budget=campaign.budget,
        holdout_percent=preview.holdout_of(campaign))
    overlaps = await repository.engaging_campaigns(session, org_id=org, audience=audience, campaign_id=campaign.id,
                                                   snapshot_of=snapshot_of)
    unknown = await unknown_valued_tag_keys(session, org_id=org, audience=audience)
    # A follow-up's snapshot is its audience, tags or not.
    given = bool(audience and any(audience.values())) or campaign.followup_outcome is not None
    return {"counts": counts, "overlaps": overlaps, "audience_given": given,
            "unknown_keys": [unknown_valued_tag_key(k) for k in unknown]}


async def message_context(
    session: AsyncSession, user: WebUser, campaign: Campaign, template: Template | None,
    bindings: dict[str, dict[str, Any]],
) -> dict[str, Any]:
    """The bindings, the rendered preview for the segment's first contact, and who lacks a bound valued tag."""
    org = user.principal.org_id
    context: dict[str, Any] = {"template": template, "bindings": bindings, "positions": message.positions(template),
                               "sources": message.SOURCES, "preview": None, "lacking": [], "media": None,
                               "valued_tag_keys": await contact_service.list_valued_tags(session, org_id=org)}
    if template is None:
        return context
    sample = await repository.sample_contact(
        session, org_id=org, audience=campaign.audience,
        snapshot_of=campaign.id if campaign.followup_outcome is not None else None)
    context["preview"] = message.preview(template, bindings, sample)
    context["sample_name"] = sample[0] if sample else None
    if campaign.audience:
        counts = await preview.preview_audience(session, org_id=org, audience=campaign.audience, variables=bindings,
                                                campaign_id=campaign.id)
        for key in valued_tag_keys(bindings):
            total = counts.excluded.get(reasons.valued_tag_missing(key), 0)
            if total:
                contacts = await repository.contacts_lacking_valued_tag(
                    session, org_id=org, audience=campaign.audience, key=key, limit=MISSING_LISTED)
                context["lacking"].append({"key": key, "total": total, "contacts": contacts})
    if context["preview"].needs_media:
        context["media_accept"], context["media_summary"] = accepted_for(str(template.header_format).lower())
    # The saved header belongs to the saved template: a template picked but not saved yet has none.
    if campaign.header_media_id and (template.name, template.language) == (campaign.template_name,
                                                                           campaign.template_language):
        context["media"] = await media_service.get_media(session, org_id=org, media_row_id=campaign.header_media_id)
    return context
