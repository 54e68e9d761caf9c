"""Holdout and variant draws at materialisation, on both databases: exact groups for a seed (the same
arithmetic as ``campaigns/experiment.py`` in Python), about the share asked, counted, and engaged."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from herald.campaigns import counters, experiment
from herald.dispatch.materialize import materialize_chunk
from herald.kit.db import Database
from herald.kit.types import utcnow
from herald.models import Campaign, CampaignMessage, CampaignStats, Engagement
from tests.conftest import OrgHandle
from tests.factories import make_contacts

SEED = 123_456_789


async def _campaign(database: Database, org_id: int, **settings: Any) -> int:
    async with database.session() as session:
        campaign = Campaign(org_id=org_id, name="promo", status="active", audience={"tags_any": ["vip"]},
                            template_name="promo", template_language="en_US", started_at=utcnow(),
                            materialize_cursor=0, **settings)
        session.add(campaign)
        await session.flush()
        await counters.ensure_row(session, campaign_id=campaign.id)
        return campaign.id


async def _materialize(database: Database, campaign_id: int, chunk: int = 150) -> None:
    while True:
        async with database.session() as session:
            if not await materialize_chunk(session, campaign_id=campaign_id, chunk=chunk):
                return


async def _rows(database: Database, campaign_id: int) -> dict[int, tuple[str, int | None]]:
    async with database.read_session() as session:
        rows = await session.execute(
            select(CampaignMessage.contact_id, CampaignMessage.status, CampaignMessage.variant)
            .where(CampaignMessage.campaign_id == campaign_id))
        return {contact_id: (status, variant) for contact_id, status, variant in rows}


async def _vip(database: Database, org_id: int, n: int, **extra: Any) -> list[int]:
    return await make_contacts(database, org_id=org_id, specs=[
        {"phone": f"+3362000{i:04d}", "tags": ["vip"], **extra} for i in range(n)])


async def test_holdout_is_the_seeded_draw_about_the_share_engaged_and_counted(
    database: Database, org: OrgHandle
) -> None:
    ids = await _vip(database, org.id, 600)
    opted = await make_contacts(database, org_id=org.id, specs=[
        {"phone": "+33629999999", "tags": ["vip"], "opted_out": True}])
    campaign = await _campaign(database, org.id, holdout_percent=10.0, experiment_seed=SEED)

    await _materialize(database, campaign)

    rows = await _rows(database, campaign)
    held = {cid for cid, (status, _) in rows.items() if status == "holdout"}
    assert held == {cid for cid in ids if experiment.is_holdout(SEED, 10.0, cid)}
    assert 35 <= len(held) <= 85  # 10 % of 600, give or take the draw
    assert rows[opted[0]] == ("not_sent", None)  # opted out comes first: never in the holdout
    assert all(status == "pending" for cid, (status, _) in rows.items() if cid not in held and cid in ids)
    async with database.read_session() as session:
        engaged = set((await session.execute(
            select(Engagement.contact_id).where(Engagement.campaign_id == campaign))).scalars())
        stats = (await session.execute(select(CampaignStats).where(CampaignStats.campaign_id == campaign))).scalar_one()
    assert held <= engaged  # no other campaign reaches them while this one runs
    assert (stats.targeted, stats.pending, stats.holdout, stats.not_sent) == (601, 600 - len(held), len(held), 1)


async def test_variants_follow_the_seeded_split_and_the_holdout_has_none(
    database: Database, org: OrgHandle
) -> None:
    ids = await _vip(database, org.id, 600)
    variants = [{"share": 50}, {"share": 30}, {"share": 20}]
    campaign = await _campaign(database, org.id, holdout_percent=10.0, experiment_seed=SEED, variants=variants)

    await _materialize(database, campaign)

    rows = await _rows(database, campaign)
    for cid in ids:
        if experiment.is_holdout(SEED, 10.0, cid):
            assert rows[cid] == ("holdout", None)
        else:
            assert rows[cid] == ("pending", experiment.variant_of(SEED, [50, 30, 20], cid))
    per_variant = [sum(1 for s, v in rows.values() if v == i) for i in range(3)]
    sent = sum(per_variant)
    assert abs(per_variant[0] - sent * 0.5) < sent * 0.1
    assert abs(per_variant[2] - sent * 0.2) < sent * 0.1


async def test_a_campaign_without_a_seed_draws_one_and_keeps_it(database: Database, org: OrgHandle) -> None:
    ids = await _vip(database, org.id, 50)
    campaign = await _campaign(database, org.id, holdout_percent=20.0)

    await _materialize(database, campaign, chunk=10)

    async with database.read_session() as session:
        seed = (await session.execute(select(Campaign.experiment_seed).where(Campaign.id == campaign))).scalar_one()
    assert seed is not None
    rows = await _rows(database, campaign)
    assert {cid for cid in ids if rows[cid][0] == "holdout"} == {
        cid for cid in ids if experiment.is_holdout(seed, 20.0, cid)}


async def test_a_plain_campaign_has_no_holdout_and_no_variant(database: Database, org: OrgHandle) -> None:
    ids = await _vip(database, org.id, 30)
    campaign = await _campaign(database, org.id)

    await _materialize(database, campaign)

    assert await _rows(database, campaign) == dict.fromkeys(ids, ("pending", None))
