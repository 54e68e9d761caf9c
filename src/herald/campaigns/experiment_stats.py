"""What a campaign's holdout and A/B variants show: each funnel step's conversion in the sent group
against the holdout (with the lift and its interval, ``reports/lift.py``), and per variant the received /
read / replied rates and funnel steps, each with a 95 % interval.

The sent group is the contacts WhatsApp accepted the message for (``sent`` in the stats); the
holdout is every held-out contact. Two grouped scans of the campaign's messages (and its funnel
events), on the (campaign_id, contact_id) key: run on demand, not with the live counters.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import and_, case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from herald.campaigns import experiment
from herald.kit.errors import NotFound
from herald.models import Campaign, CampaignMessage, FunnelEvent, MessageStatus
from herald.models.campaign_message import ACCEPTED, RECEIVED
from herald.reports.lift import lift, wilson
from herald.reports.schemas import ExperimentOut, HoldoutOut, Rate, StepLift, VariantStatsOut, VariantStepOut

_ACCEPTED = [s.value for s in ACCEPTED]
_RECEIVED = [s.value for s in RECEIVED]


def rate(count: int, of: int) -> Rate:
    low, high = wilson(count, of)
    pct = round(100 * count / of, 1) if of else 0.0
    return Rate(count=count, of=of, pct=pct, low=round(100 * low, 1), high=round(100 * high, 1))


async def get_experiment(session: AsyncSession, *, org_id: int, campaign_id: int) -> ExperimentOut:
    campaign = (await session.execute(
        select(Campaign).where(Campaign.id == campaign_id, Campaign.org_id == org_id))).scalar_one_or_none()
    if campaign is None:
        raise NotFound("campaign not found", code="campaign_not_found")
    return ExperimentOut(holdout=await _holdout(session, campaign), variants=await _variants(session, campaign))


async def _holdout(session: AsyncSession, campaign: Campaign) -> HoldoutOut | None:
    group = case((CampaignMessage.status == MessageStatus.holdout.value, "holdout"),
                 (CampaignMessage.status.in_(_ACCEPTED), "sent"), else_=None)
    sizes: dict[str | None, int] = dict((await session.execute(
        select(group.label("g"), func.count()).where(CampaignMessage.campaign_id == campaign.id).group_by("g"))).all())
    if not sizes.get("holdout") and not campaign.holdout_percent:
        return None
    steps: dict[str, dict[str, int]] = defaultdict(dict)
    rows = await session.execute(
        select(FunnelEvent.step, group.label("g"), func.count())
        .join(CampaignMessage, and_(CampaignMessage.campaign_id == FunnelEvent.campaign_id,
                                    CampaignMessage.contact_id == FunnelEvent.contact_id))
        .where(FunnelEvent.campaign_id == campaign.id)
        .group_by(FunnelEvent.step, "g"))
    for step, g, count in rows:
        if g is not None:
            steps[step][g] = int(count)
    sent, held = int(sizes.get("sent") or 0), int(sizes.get("holdout") or 0)
    lifts = []
    for step in sorted(steps, key=lambda s: (-sum(steps[s].values()), s)):
        converted = steps[step]
        result = lift(converted.get("sent", 0), sent, converted.get("holdout", 0), held)
        lifts.append(StepLift(step=step, sent_converted=converted.get("sent", 0),
                              holdout_converted=converted.get("holdout", 0), **_fields(result)))
    return HoldoutOut(holdout_percent=campaign.holdout_percent or 0.0, sent=sent, holdout=held, steps=lifts)


def _fields(result: Any) -> dict[str, Any]:
    names = ("sent_rate", "holdout_rate", "points", "points_low", "points_high", "relative", "sentence")
    return {name: getattr(result, name) for name in names}


async def _variants(session: AsyncSession, campaign: Campaign) -> list[VariantStatsOut]:
    if not campaign.variants:
        return []
    m = CampaignMessage
    accepted, received = m.status.in_(_ACCEPTED), m.status.in_(_RECEIVED)
    rows = await session.execute(
        select(m.variant, func.count(), func.count(case((accepted, 1))), func.count(case((received, 1))),
               func.count(case((m.status == MessageStatus.read.value, 1))),
               func.count(case((and_(received, m.replied_at.is_not(None)), 1))))
        .where(m.campaign_id == campaign.id, m.variant.is_not(None)).group_by(m.variant))
    counts: dict[int, tuple[int, ...]] = {int(row[0] or 0): tuple(int(n) for n in row[1:]) for row in rows}
    reached: dict[int, list[tuple[str, int]]] = defaultdict(list)
    for variant_index, step, count in await session.execute(
        select(m.variant, FunnelEvent.step, func.count())
        .join(m, and_(m.campaign_id == FunnelEvent.campaign_id, m.contact_id == FunnelEvent.contact_id))
        .where(FunnelEvent.campaign_id == campaign.id, m.variant.is_not(None), accepted)
        .group_by(m.variant, FunnelEvent.step)):
        reached[int(variant_index or 0)].append((step, int(count)))
    shares = experiment.shares_of(campaign.variants)
    out = []
    for index, variant in enumerate(campaign.variants):
        targeted, sent, got, read, replied = counts.get(index, (0, 0, 0, 0, 0))
        template = variant.get("template_name") or campaign.template_name or ""
        steps = [VariantStepOut(step=step, reached=rate(n, sent))
                 for step, n in sorted(reached[index], key=lambda item: (-item[1], item[0]))]
        out.append(VariantStatsOut(
            name=experiment.VARIANT_NAMES[index], template=template, share=round(shares[index], 2),
            targeted=targeted, sent=sent, received=rate(got, sent), read=rate(read, got), replied=rate(replied, got),
            steps=steps))
    return out
