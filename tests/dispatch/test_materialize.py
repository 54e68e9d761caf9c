"""Audience materialisation (docs/architecture.md, "Who receives a message", rules 1–3), chunk by chunk, on both databases;
and deleting a contact, which removes its engagement and messages itself (no foreign key does)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import func, select, text, update

from herald.campaigns import counters, reasons
from herald.campaigns.ending import release_ended
from herald.campaigns.segments import segment_filter
from herald.contacts import service as contacts_service
from herald.dispatch.materialize import POSTGRES_CHUNK_SETTINGS, materialize_chunk, postgres_chunk_statement
from herald.kit.db import Database
from herald.kit.types import utcnow
from herald.models import (
    Campaign,
    CampaignMessage,
    CampaignNotSentReason,
    CampaignStats,
    Contact,
    Engagement,
)
from tests.conftest import OrgHandle
from tests.factories import make_contacts


async def _contacts(database: Database, org_id: int, specs: list[dict[str, Any]]) -> list[int]:
    """One contact per spec (``tests.factories.make_contacts``), numbered phones given here."""
    numbered = [{"phone": f"+3361000{n:04d}", **spec} for n, spec in enumerate(specs)]
    return await make_contacts(database, org_id=org_id, specs=numbered)


async def _campaign(database: Database, org_id: int, audience: dict[str, Any], *, name: str = "promo") -> int:
    async with database.session() as session:
        campaign = Campaign(org_id=org_id, name=name, status="active", audience=audience, template_name="promo",
                            template_language="en_US", started_at=utcnow(), materialize_cursor=0)
        session.add(campaign)
        await session.flush()
        await counters.ensure_row(session, campaign_id=campaign.id)
        return campaign.id


async def _materialize(database: Database, campaign_id: int, *, chunk: int) -> int:
    chunks = 0
    while True:
        async with database.session() as session:
            if not await materialize_chunk(session, campaign_id=campaign_id, chunk=chunk):
                return chunks
        chunks += 1


async def _messages(database: Database, campaign_id: int) -> dict[int, tuple[str, str | None]]:
    async with database.read_session() as session:
        rows = await session.execute(
            select(CampaignMessage.contact_id, CampaignMessage.status, CampaignMessage.error_msg)
            .where(CampaignMessage.campaign_id == campaign_id)
        )
        return {contact_id: (status, reason) for contact_id, status, reason in rows}


async def _engaged(database: Database) -> dict[int, int]:
    async with database.read_session() as session:
        rows = await session.execute(select(Engagement.contact_id, Engagement.campaign_id))
        return {contact_id: campaign_id for contact_id, campaign_id in rows}


async def _stats(database: Database, campaign_id: int) -> tuple[int, int, int, dict[str, int]]:
    async with database.read_session() as session:
        row = (await session.execute(select(CampaignStats).where(CampaignStats.campaign_id == campaign_id))).scalar_one()
        reasons_ = await session.execute(
            select(CampaignNotSentReason.reason, CampaignNotSentReason.count)
            .where(CampaignNotSentReason.campaign_id == campaign_id)
        )
        return row.targeted, row.pending, row.not_sent, {reason: count for reason, count in reasons_}


class TestMaterializeChunk:
    @pytest.mark.parametrize("chunk", [2, 1_000])
    async def test_every_exclusion_reason_is_stored_per_message_and_counted(
        self, database: Database, org: OrgHandle, chunk: int
    ) -> None:
        plain, opted, busy, untagged, opted_busy, other = await _contacts(database, org.id, [
            {"tags": ["vip"]}, {"tags": ["vip"], "opted_out": True}, {"tags": ["vip", "old"]}, {},
            {"tags": ["vip", "old"], "opted_out": True}, {"tags": ["vip"]},
        ])
        earlier = await _campaign(database, org.id, {"tags_any": ["old"]}, name="earlier")
        await _materialize(database, earlier, chunk=chunk)
        campaign = await _campaign(database, org.id, {"tags_any": ["vip"]})

        await _materialize(database, campaign, chunk=chunk)

        assert await _messages(database, campaign) == {
            plain: ("pending", None),
            opted: ("not_sent", reasons.OPTED_OUT),
            busy: ("not_sent", reasons.ALREADY_ENGAGED),
            opted_busy: ("not_sent", reasons.OPTED_OUT),
            other: ("pending", None),
        }
        assert untagged not in await _messages(database, campaign)
        assert await _engaged(database) == {busy: earlier, plain: campaign, other: campaign}
        assert await _stats(database, campaign) == (
            5, 2, 3, {reasons.OPTED_OUT: 2, reasons.ALREADY_ENGAGED: 1}
        )

    async def test_tags_all_and_valued_tags_select_the_same_contacts_chunk_by_chunk(
        self, database: Database, org: OrgHandle
    ) -> None:
        specs = [
            {"tags": ["a", "b"] if n % 2 else ["a"], "valued_tags": {"city": "Lyon" if n % 3 else "Paris"}}
            for n in range(12)
        ]
        ids = await _contacts(database, org.id, specs)
        audience = {"tags_all": ["a", "b"], "valued_tags": [{"key": "city", "value": "Lyon"}]}
        campaign = await _campaign(database, org.id, audience)

        await _materialize(database, campaign, chunk=3)

        expected = {cid for n, cid in enumerate(ids) if n % 2 and n % 3}
        assert set(await _messages(database, campaign)) == expected
        assert set(await _engaged(database)) == expected

    async def test_a_chunk_that_dies_is_redone_and_nothing_is_doubled(
        self, database: Database, org: OrgHandle
    ) -> None:
        ids = await _contacts(database, org.id, [{"tags": ["vip"]} for _ in range(7)])
        campaign = await _campaign(database, org.id, {"tags_any": ["vip"]})
        async with database.session() as session:
            assert await materialize_chunk(session, campaign_id=campaign, chunk=3)
        with pytest.raises(RuntimeError):
            async with database.session() as session:
                assert await materialize_chunk(session, campaign_id=campaign, chunk=3)
                raise RuntimeError("worker killed before the commit")

        assert await _materialize(database, campaign, chunk=3) == 2

        assert await _messages(database, campaign) == dict.fromkeys(ids, ("pending", None))
        assert await _stats(database, campaign) == (7, 7, 0, {})
        async with database.read_session() as session:
            done = (await session.execute(select(Campaign.materialized_at).where(Campaign.id == campaign))).scalar_one()
        assert done is not None


class TestDeleteContact:
    async def test_deleting_a_contact_deletes_its_engagement_and_messages(
        self, database: Database, org: OrgHandle
    ) -> None:
        gone, kept = await _contacts(database, org.id, [{"tags": ["vip"]}, {"tags": ["vip"]}])
        ended = await _campaign(database, org.id, {"tags_any": ["vip"]}, name="ended")
        await _materialize(database, ended, chunk=10)
        async with database.session() as session:
            await session.execute(update(Campaign).where(Campaign.id == ended).values(status="ended"))
            await release_ended(session, campaign_id=ended)
        campaign = await _campaign(database, org.id, {"tags_any": ["vip"]})
        await _materialize(database, campaign, chunk=10)

        async with database.session() as session:
            await contacts_service.delete_contact(session, org_id=org.id, contact_id=gone)

        assert set(await _messages(database, campaign)) == {kept}
        assert set(await _messages(database, ended)) == {kept}
        assert await _engaged(database) == {kept: campaign}

    async def test_a_deletion_during_a_chunk_waits_for_it_and_leaves_no_row_behind(
        self, database: Database, org: OrgHandle
    ) -> None:
        ids = await _contacts(database, org.id, [{"tags": ["vip"]} for _ in range(4)])
        campaign = await _campaign(database, org.id, {"tags_any": ["vip"]})

        async def delete() -> None:
            async with database.session() as session:
                await contacts_service.delete_contact(session, org_id=org.id, contact_id=ids[1])

        async with database.session() as session:
            assert await materialize_chunk(session, campaign_id=campaign, chunk=10)
            deletion = asyncio.create_task(delete())
            await asyncio.sleep(0.5)
            assert not deletion.done()
        await asyncio.wait_for(deletion, timeout=30)
        await _materialize(database, campaign, chunk=10)

        assert set(await _messages(database, campaign)) == {ids[0], ids[2], ids[3]}
        assert set(await _engaged(database)) == {ids[0], ids[2], ids[3]}
        async with database.read_session() as session:
            orphans = await session.execute(
                select(func.count()).select_from(CampaignMessage).where(CampaignMessage.contact_id.not_in(
                    select(Contact.id)
                ))
            )
            assert orphans.scalar_one() == 0


class TestChunkPlanOnPostgres:
    async def test_a_chunk_right_after_an_import_is_planned_without_nested_loops(
        self, database: Database, org: OrgHandle
    ) -> None:
        """Before autovacuum analyses freshly imported contacts, the planner guesses one row per table
        and chose nested loops (quadratic: 45 s for a 20,000-contact chunk); the chunk's settings
        rule them out whatever the statistics say."""
        if database.dialect != "postgresql":
            pytest.skip("a PostgreSQL planner setting")
        await _contacts(database, org.id, [{"tags": ["vip"]} for _ in range(50)])
        campaign = await _campaign(database, org.id, {"tags_any": ["vip"]})
        async with database.session() as session:
            where = await segment_filter(session, org_id=org.id, audience={"tags_any": ["vip"]})
            statement = postgres_chunk_statement(campaign_id=campaign, where=where, lo=0, hi=10**9)
            sql = statement.compile(dialect=session.get_bind().dialect, compile_kwargs={"literal_binds": True})
            await session.execute(text(POSTGRES_CHUNK_SETTINGS))
            plan = "\n".join((await session.execute(text(f"EXPLAIN {sql}"))).scalars())
            await session.rollback()

        assert "Nested Loop" not in plan
        assert "Hash" in plan or "Merge" in plan
