"""A contact's campaigns (engaged in which, each message with its replies, opt-out and why), pages
of contacts with a total and a way back, tags changed in bulk on a selection or on every contact
matching a search, and what deleting a contact does to a campaign still sending."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import event, select, update

from herald.campaigns import counters
from herald.contacts import bulk_tags
from herald.contacts.repository import DELETED_REASON
from herald.contacts.schemas import BulkTagsIn, ContactSearch
from herald.dispatch.materialize import materialize_job
from herald.kit.db import Database
from herald.models import CampaignMessage, CampaignNotSentReason, CampaignStats
from tests.conftest import OrgHandle
from tests.factories import make_active_campaign, make_contacts, make_number
from tests.webhooks.inbound_setup import alice_campaign, receive

API = "/api/v1"


class TestContactCampaigns:
    async def test_engagement_history_with_replies_and_opt_out(
        self, app: FastAPI, client: httpx.AsyncClient, database: Database, org: OrgHandle
    ) -> None:
        setup = await alice_campaign(app, database, org.id)
        await receive(client, database, "text_reply.json", "text_stop.json")

        answer = await client.get(f"{API}/contacts/{setup.alice}/campaigns", headers=org.auth)

        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["engaged_in"]["campaign_id"] == setup.campaign_id
        assert body["engaged_in"]["campaign_status"] == "active"
        [message] = body["messages"]
        assert message["campaign_id"] == setup.campaign_id and message["campaign_name"] == "Spring"
        assert message["sent_at"] is not None and message["replied_at"] is not None
        assert [r["text"] for r in message["replies"]] == ["Does it come in another color?", "  Stop. "]
        assert body["opted_out"] is True and body["opted_out_reason"].startswith("replied ")
        bob = (await client.get(f"{API}/contacts/{setup.bob}/campaigns", headers=org.auth)).json()
        assert bob == {"engaged_in": None, "opted_out": False, "opted_out_at": None, "opted_out_reason": None,
                       "messages": []}

    async def test_another_organizations_contact_is_not_found(
        self, client: httpx.AsyncClient, database: Database, org: OrgHandle, other_org: OrgHandle
    ) -> None:
        [theirs] = await make_contacts(database, org_id=other_org.id, specs=[{"phone": "+14155550101"}])
        answer = await client.get(f"{API}/contacts/{theirs}/campaigns", headers=org.auth)
        assert answer.status_code == 404 and answer.json()["error"]["code"] == "contact_not_found"


class TestPages:
    async def test_total_and_previous_and_next_pages(
        self, client: httpx.AsyncClient, database: Database, org: OrgHandle
    ) -> None:
        ids = await make_contacts(database, org_id=org.id, specs=[
            {"phone": f"+1415555{1000 + i}", "name": f"Vip {i}", "tags": ["vip"]} for i in range(5)
        ] + [{"phone": "+14155559999", "name": "Other"}])

        first = (await client.get(f"{API}/contacts?tag=vip&limit=2&total=true", headers=org.auth)).json()
        assert first["total"] == 5 and first["prev_cursor"] is None
        second = (await client.get(f"{API}/contacts?tag=vip&limit=2&cursor={first['next_cursor']}",
                                   headers=org.auth)).json()
        third = (await client.get(f"{API}/contacts?tag=vip&limit=2&cursor={second['next_cursor']}",
                                  headers=org.auth)).json()
        back = (await client.get(f"{API}/contacts?tag=vip&limit=2&before={third['prev_cursor']}",
                                 headers=org.auth)).json()
        back_again = (await client.get(f"{API}/contacts?tag=vip&limit=2&before={back['prev_cursor']}",
                                       headers=org.auth)).json()

        def page_ids(page: dict[str, Any]) -> list[int]:
            return [c["id"] for c in page["items"]]

        assert page_ids(first) + page_ids(second) + page_ids(third) == ids[:5]
        assert third["next_cursor"] is None and second["total"] is None
        assert page_ids(back) == page_ids(second) and back["next_cursor"] == second["next_cursor"]
        assert page_ids(back_again) == page_ids(first) and back_again["prev_cursor"] is None

    async def test_digits_in_a_name_search_do_not_match_every_phone(
        self, client: httpx.AsyncClient, database: Database, org: OrgHandle
    ) -> None:
        await make_contacts(database, org_id=org.id, specs=[
            {"phone": f"+1415555{3000 + i}", "name": f"Vip {i}"} for i in range(12)])

        async def names(q: str) -> list[str]:
            page = (await client.get(f"{API}/contacts", params={"q": q}, headers=org.auth)).json()
            return [c["name"] for c in page["items"]]

        assert await names("Vip 1") == ["Vip 1", "Vip 10", "Vip 11"]
        assert await names("+1 415 555-3011") == ["Vip 11"]

    async def test_a_bad_before_cursor_is_a_422_naming_it(self, client: httpx.AsyncClient, org: OrgHandle) -> None:
        answer = await client.get(f"{API}/contacts?before=%%%", headers=org.auth)
        assert answer.status_code == 422 and answer.json()["error"]["details"][0]["field"] == "cursor"


async def _tags(client: httpx.AsyncClient, org: OrgHandle) -> dict[int, list[str]]:
    page = (await client.get(f"{API}/contacts?limit=500", headers=org.auth)).json()
    return {c["id"]: c["tags"] for c in page["items"]}


class TestBulkTags:
    async def test_every_contact_matching_a_search_not_only_a_page(
        self, client: httpx.AsyncClient, database: Database, org: OrgHandle, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(bulk_tags, "CHUNK", 3)  # seven contacts: three chunks
        ids = await make_contacts(database, org_id=org.id, specs=[
            {"phone": f"+1415555{1000 + i}", "name": f"Vip {i}", "tags": ["vip"]} for i in range(7)
        ] + [{"phone": "+14155559999", "name": "Other", "tags": ["vip"]}])
        body = {"add": ["spring"], "search": {"q": "Vip", "tag": ["vip"]}}

        counted = await client.post(f"{API}/contacts/bulk-tags?dry_run=true", json=body, headers=org.auth)
        assert counted.json() == {"matched": 7, "added": 0, "removed": 0, "skipped": 0}
        assert all("spring" not in t for t in (await _tags(client, org)).values())
        done = await client.post(f"{API}/contacts/bulk-tags", json=body, headers=org.auth)

        assert done.status_code == 200, done.text
        assert done.json() == {"matched": 7, "added": 7, "removed": 0, "skipped": 0}
        tags = await _tags(client, org)
        assert all(tags[i] == ["spring", "vip"] for i in ids[:7]) and tags[ids[7]] == ["vip"]
        removed = await client.post(f"{API}/contacts/bulk-tags", headers=org.auth,
                                    json={"remove": ["vip"], "search": {"tag": ["spring"]}})
        assert removed.json() == {"matched": 7, "added": 0, "removed": 7, "skipped": 0}
        assert (await _tags(client, org))[ids[0]] == ["spring"]

    async def test_chunks_cost_the_same_statements_whatever_their_size(
        self, database: Database, org: OrgHandle
    ) -> None:
        few = await make_contacts(database, org_id=org.id, specs=[{"phone": f"+1415555{1000 + i}", "tags": ["a"]}
                                                                   for i in range(3)])
        await make_contacts(database, org_id=org.id, specs=[{"phone": f"+1415556{1000 + i}", "tags": ["b"]}
                                                             for i in range(60)])

        async def statements(data: BulkTagsIn) -> tuple[int, int]:
            seen: list[str] = []

            def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
                seen.append(statement)

            async with database.session() as session:
                engine = session.get_bind()
                event.listen(engine, "before_cursor_execute", count)
                try:
                    result = await bulk_tags.change_tags(session, org_id=org.id, data=data)
                finally:
                    event.remove(engine, "before_cursor_execute", count)
            return result.matched, len(seen)

        small = await statements(BulkTagsIn(add=["x"], remove=["y"], search=ContactSearch(tag=["a"])))
        large = await statements(BulkTagsIn(add=["x"], remove=["y"], search=ContactSearch(tag=["b"])))
        picked = await statements(BulkTagsIn(add=["z"], contact_ids=few))
        assert small[0] == 3 and large[0] == 60 and picked[0] == 3
        assert small[1] == large[1]  # not one statement per contact

    async def test_picked_ids_of_another_organization_are_left_alone(
        self, client: httpx.AsyncClient, database: Database, org: OrgHandle, other_org: OrgHandle
    ) -> None:
        [mine] = await make_contacts(database, org_id=org.id, specs=[{"phone": "+14155550101"}])
        [theirs] = await make_contacts(database, org_id=other_org.id, specs=[{"phone": "+14155550102"}])
        done = await client.post(f"{API}/contacts/bulk-tags", headers=org.auth,
                                 json={"add": ["vip"], "contact_ids": [mine, theirs]})
        assert done.json()["matched"] == 1
        their_page = (await client.get(f"{API}/contacts", headers=other_org.auth)).json()
        assert their_page["items"][0]["tags"] == []

    async def test_a_contact_at_the_tag_limit_is_skipped_and_counted(
        self, client: httpx.AsyncClient, database: Database, org: OrgHandle
    ) -> None:
        full, room = await make_contacts(database, org_id=org.id, specs=[
            {"phone": "+14155550101", "tags": [f"t{i}" for i in range(100)]}, {"phone": "+14155550102"}])
        done = await client.post(f"{API}/contacts/bulk-tags", headers=org.auth,
                                 json={"add": ["vip"], "contact_ids": [full, room]})
        assert done.json() == {"matched": 2, "added": 1, "removed": 0, "skipped": 1}

    async def test_bad_requests_name_the_field(self, client: httpx.AsyncClient, org: OrgHandle) -> None:
        cases = [
            ({"add": ["vip"]}, "contact_ids"),
            ({"add": ["vip"], "contact_ids": [1], "search": {}}, "contact_ids"),
            ({"contact_ids": [1]}, "add"),
            ({"add": ["vip"], "remove": ["vip"], "contact_ids": [1]}, "remove"),
            ({"add": [""], "contact_ids": [1]}, "add"),
            ({"add": ["vip"], "search": {"valued_tag": ["=x"]}}, "valued_tag"),
        ]
        for body, field in cases:
            answer = await client.post(f"{API}/contacts/bulk-tags", json=body, headers=org.auth)
            assert answer.status_code == 422, (body, answer.text)
            assert answer.json()["error"]["details"][0]["field"] == field, (body, answer.text)

    async def test_a_viewer_may_not(self, client: httpx.AsyncClient, org: OrgHandle) -> None:
        from herald.auth.principal import Role

        answer = await client.post(f"{API}/contacts/bulk-tags", json={"add": ["x"], "contact_ids": [1]},
                                   headers=org.headers(Role.viewer))
        assert answer.status_code == 403


async def _campaign_with_pending(app: FastAPI, database: Database, org_id: int) -> tuple[int, list[int]]:
    number = await make_number(database, app.state.secret_box, org_id=org_id, base_url="http://127.0.0.1:9")
    ids = await make_contacts(database, org_id=org_id, specs=[{"phone": "+14155550101", "tags": ["vip"]},
                                                              {"phone": "+14155550102", "tags": ["vip"]}])
    campaign = await make_active_campaign(database, org_id=org_id, number_id=number, audience={"tags_any": ["vip"]},
                                          variables={}, media_row_id=None, bot_flow_id=None)
    await materialize_job(database, {"campaign_id": campaign})
    return campaign, ids


async def _stats(database: Database, campaign_id: int) -> tuple[int, int, dict[str, int]]:
    async with database.read_session() as session:
        stats = (await session.execute(select(CampaignStats).where(CampaignStats.campaign_id == campaign_id))).scalar_one()
        reasons = await session.execute(select(CampaignNotSentReason.reason, CampaignNotSentReason.count)
                                        .where(CampaignNotSentReason.campaign_id == campaign_id))
        return stats.pending, stats.not_sent, {r: c for r, c in reasons.all()}


class TestDeletingAnEngagedContact:
    async def test_its_unsent_message_counts_as_not_sent_so_the_campaign_can_end(
        self, app: FastAPI, client: httpx.AsyncClient, database: Database, org: OrgHandle
    ) -> None:
        campaign, (gone, kept) = await _campaign_with_pending(app, database, org.id)
        assert await _stats(database, campaign) == (2, 0, {})

        assert (await client.delete(f"{API}/contacts/{gone}", headers=org.auth)).status_code == 204

        assert await _stats(database, campaign) == (1, 1, {DELETED_REASON: 1})
        async with database.read_session() as session:
            left = (await session.execute(select(CampaignMessage.contact_id)
                                          .where(CampaignMessage.campaign_id == campaign))).scalars().all()
        assert left == [kept]

    async def test_a_sent_message_keeps_its_count(
        self, app: FastAPI, client: httpx.AsyncClient, database: Database, org: OrgHandle
    ) -> None:
        campaign, (gone, _) = await _campaign_with_pending(app, database, org.id)
        async with database.session() as session:
            await session.execute(update(CampaignMessage).where(CampaignMessage.contact_id == gone)
                                  .values(status="sent", wamid="wamid.x"))
            await counters.add(session, campaign_id=campaign, pending=-1, sent=1)

        assert (await client.delete(f"{API}/contacts/{gone}", headers=org.auth)).status_code == 204

        assert await _stats(database, campaign) == (1, 0, {})

    async def test_a_message_being_sent_right_now_makes_it_wait(
        self, app: FastAPI, client: httpx.AsyncClient, database: Database, org: OrgHandle
    ) -> None:
        campaign, (held, _) = await _campaign_with_pending(app, database, org.id)
        async with database.session() as session:
            await session.execute(update(CampaignMessage).where(CampaignMessage.contact_id == held)
                                  .values(status="sending"))

        answer = await client.delete(f"{API}/contacts/{held}", headers=org.auth)

        assert answer.status_code == 409, answer.text
        error = answer.json()["error"]
        assert error["code"] == "contact_being_sent" and "try again in a few seconds" in error["message"]
        assert error["details"] == {"campaign_id": campaign}
        assert (await client.get(f"{API}/contacts/{held}", headers=org.auth)).status_code == 200
