"""How many contacts a segment reaches and why the others would not be sent (docs/architecture.md, "Who receives a message").

Each contact counts once, under the first rule that excludes it, in the order the engine applies
them: opted out, engaged elsewhere, open case, over the organization's frequency cap (a campaign's
preview only: the cap depends on its template and on whether it is exempt), then each valued tag a
variable reads. A preview is a forecast: the engine re-checks every rule at launch and at send time.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from herald.campaigns import frequency_cap, reasons, repository, segments, window_preview
from herald.campaigns.bindings import valued_tag_keys
from herald.campaigns.schemas import AudiencePreview, MessagingLimitPreview
from herald.campaigns.send_window import SendWindow, window_of
from herald.campaigns.service import get_campaign
from herald.kit.errors import Invalid
from herald.kit.types import utcnow
from herald.models import Contact
from herald.numbers import messaging_limit
from herald.pricing import forecast as cost_forecast
from herald.pricing import rates

FIXED_RULES = {1: reasons.OPTED_OUT, 2: reasons.ALREADY_ENGAGED, 3: reasons.OPEN_CASE}


async def preview_campaign(session: AsyncSession, *, org_id: int, campaign_id: int) -> AudiencePreview:
    campaign = await get_campaign(session, org_id=org_id, campaign_id=campaign_id)
    return await preview_audience(
        session, org_id=org_id, audience=campaign.audience, variables=campaign.variables or {},
        contact_ids=campaign.test_contact_ids if campaign.kind == "test" else None, campaign_id=campaign.id,
        whatsapp_number_id=campaign.whatsapp_number_id,
        cap=await frequency_cap.cap_for_campaign(session, campaign), window=window_of(campaign),
        snapshot_of=campaign.id if campaign.followup_outcome is not None else None,
        category=await template_category(session, campaign), budget=campaign.budget,
        holdout_percent=holdout_of(campaign),
    )


def holdout_of(campaign: Any) -> float:
    """The share of its eligible contacts a campaign's holdout keeps out (``dispatch/materialize.py``)."""
    return float(campaign.holdout_percent or 0.0)


async def eligible_zones(session: AsyncSession, *, org_id: int, campaign_id: int) -> Counter[str]:
    """The campaign's eligible contacts per zone (its send window's estimate: ``campaigns/progress.py``)."""
    campaign = await get_campaign(session, org_id=org_id, campaign_id=campaign_id)
    contact_ids = campaign.test_contact_ids if campaign.kind == "test" else None
    where = await segments.segment_filter(session, org_id=org_id, audience=campaign.audience, contact_ids=contact_ids,
                                          snapshot_of=campaign.id if campaign.followup_outcome is not None else None)
    cap = await frequency_cap.cap_for_campaign(session, campaign)
    over_cap = None
    if cap is not None:
        over_cap = frequency_cap.over_cap(Contact.id, org_id=org_id, cap=cap, now=utcnow(), campaign_id=campaign.id)
    zones, _ = await window_preview.eligible_zones(
        session, audience_filter=where, campaign_id=campaign.id,
        valued_tag_keys=valued_tag_keys(campaign.variables or {}), over_cap=over_cap,
    )
    return zones


async def template_category(session: AsyncSession, campaign: Any) -> str | None:
    """The category of the campaign's template (MARKETING, UTILITY, ...); None while it has none."""
    if not campaign.whatsapp_number_id or not campaign.template_name or not campaign.template_language:
        return None
    number = await repository.get_number(session, org_id=campaign.org_id, number_id=campaign.whatsapp_number_id)
    if number is None:
        return None
    template = await repository.get_template(session, org_id=campaign.org_id, waba_id=number.waba_id,
                                             name=campaign.template_name, language=campaign.template_language)
    return template.category if template is not None else None


async def preview_audience(
    session: AsyncSession,
    *,
    org_id: int,
    audience: dict[str, Any] | None,
    variables: dict[str, dict[str, Any]],
    contact_ids: list[int] | None = None,
    campaign_id: int | None = None,
    whatsapp_number_id: int | None = None,
    cap: frequency_cap.FrequencyCap | None = None,
    window: SendWindow | None = None,
    snapshot_of: int | None = None,
    category: str | None = None,
    budget: float | None = None,
    holdout_percent: float = 0.0,
) -> AudiencePreview:
    """``campaign_id``: the campaign's own engagements (and sends) do not count as engaged elsewhere
    (nor towards the frequency cap ``cap``, the one the campaign is held to). ``snapshot_of``: a
    follow-up's id, whose snapshot (narrowed by the segment) is the audience."""
    where = await segments.segment_filter(session, org_id=org_id, audience=audience, contact_ids=contact_ids,
                                          snapshot_of=snapshot_of)
    keys = valued_tag_keys(variables)
    over_cap = None
    if cap is not None:
        over_cap = frequency_cap.over_cap(Contact.id, org_id=org_id, cap=cap, now=utcnow(), campaign_id=campaign_id)
    counts, phones = await repository.exclusion_counts_with_phones(
        session, audience_filter=where, campaign_id=campaign_id, valued_tag_keys=keys, over_cap=over_cap
    )
    capped = {4: cap.reason} if cap is not None else {}
    rules = FIXED_RULES | capped | {
        repository.FIRST_VALUED_TAG_RULE + i: reasons.valued_tag_missing(key) for i, key in enumerate(keys)
    }
    # Every rule that applies is listed, with 0 when it excludes nobody, so the UI shows a stable table.
    excluded = {reason: counts.get(code, 0) for code, reason in sorted(rules.items())}
    matched = sum(counts.values())
    eligible = matched - sum(excluded.values())
    limit = None
    if whatsapp_number_id is not None:
        limit = await _messaging_limit(session, org_id=org_id, number_id=whatsapp_number_id, eligible=eligible)
    in_window = None
    if window is not None:  # where the eligible contacts are, against the window now
        zones, bad_tags = await window_preview.eligible_zones(
            session, audience_filter=where, campaign_id=campaign_id, valued_tag_keys=keys, over_cap=over_cap)
        in_window = window_preview.window_preview(window, zones, bad_tags, utcnow())
    card = await rates.card_of(session, org_id=org_id)
    cost = cost_forecast.forecast(card, cost_forecast.category_of(category), phones, budget=budget,
                                  holdout_percent=holdout_percent)
    return AudiencePreview(matched=matched, eligible=eligible, excluded=excluded, messaging_limit=limit,
                           send_window=in_window, cost=cost)


async def _messaging_limit(session: AsyncSession, *, org_id: int, number_id: int, eligible: int) -> MessagingLimitPreview | None:
    """The portfolio's limit against the eligible contacts (docs/whatsapp.md, "Messaging limit")."""
    portfolio = await messaging_limit.portfolio_of_number(session, org_id=org_id, number_id=number_id)
    if portfolio is None:
        raise Invalid("no such WhatsApp number in this organization", field="whatsapp_number_id")
    if portfolio.limit is None or portfolio.tier is None:
        return None
    usage = await messaging_limit.count(session, portfolio=portfolio.key, now=utcnow())
    available = max(0, portfolio.limit - usage.reached)
    return MessagingLimitPreview(
        tier=portfolio.tier, limit_per_24h=portfolio.limit, reached_24h=usage.reached, available_now=available,
        waiting=max(0, eligible - available),
    )
