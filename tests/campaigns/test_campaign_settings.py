from __future__ import annotations

import httpx
from sqlalchemy import func, select

from herald.auth.principal import Role
from herald.dispatch.materialize import materialize_job
from herald.kit.db import Database
from herald.models import Campaign, CampaignMessage, CampaignStats
from tests.campaigns.conftest import BASE, act, create, error_fields
from tests.conftest import OrgHandle
from tests.factories import (
    NAMED,
    World,
    make_contact,
    make_media,
    make_number,
    make_template,
    make_world,
)


class TestCreateCampaign:
    async def test_complete_campaign_is_ready(self, client: httpx.AsyncClient, org: OrgHandle, world: World) -> None:
        campaign = await create(client, org, world.campaign())
        assert campaign["status"] == "ready"
        assert campaign["missing"] == []
        assert campaign["kind"] == "real"
        assert campaign["parent_id"] is None
        assert campaign["template"] == {"name": "promo", "language": "en_US"}
        assert campaign["variables"]["1"] == {"source": "contact_name", "fallback": "friend"}
        assert campaign["auto_end_after_hours"] == 72

    async def test_draft_lists_what_is_missing_then_becomes_ready(
        self, client: httpx.AsyncClient, org: OrgHandle, world: World
    ) -> None:
        body = world.without("audience", "header_media_id", "bot_flow_id")
        body["variables"] = {"1": {"source": "contact_name"}}
        draft = await create(client, org, body)
        assert draft["status"] == "draft"
        assert draft["missing"] == ["audience", "variables.2", "header_media_id", "bot_flow_id"]

        completed = await client.patch(
            f"{BASE}/{draft['id']}",
            json={k: v for k, v in world.campaign().items() if k in ("audience", "variables", "header_media_id", "bot_flow_id")},
            headers=org.auth,
        )
        assert completed.status_code == 200, completed.text
        assert completed.json()["status"] == "ready"
        assert completed.json()["missing"] == []

    async def test_ready_campaign_becomes_draft_again_when_something_is_removed(
        self, client: httpx.AsyncClient, org: OrgHandle, world: World
    ) -> None:
        campaign = await create(client, org, world.campaign())
        response = await client.patch(f"{BASE}/{campaign['id']}", json={"audience": None}, headers=org.auth)
        assert response.json()["status"] == "draft"
        assert response.json()["missing"] == ["audience"]

    async def test_empty_campaign_misses_everything(self, client: httpx.AsyncClient, org: OrgHandle, world: World) -> None:
        campaign = await create(client, org, {})
        assert campaign["missing"] == ["name", "whatsapp_number_id", "audience", "template", "bot_flow_id"]

    async def test_header_media_is_only_required_by_media_templates(
        self, client: httpx.AsyncClient, org: OrgHandle, world: World, database: Database
    ) -> None:
        await make_template(database, org_id=org.id, name="plain", variables=["1"], header_format="TEXT")
        body = world.without("header_media_id")
        body.update(template={"name": "plain", "language": "en_US"}, variables={"1": {"source": "text", "value": "hi"}})
        assert (await create(client, org, body))["status"] == "ready"

    async def test_missing_is_stored_on_the_row(
        self, client: httpx.AsyncClient, org: OrgHandle, world: World, database: Database
    ) -> None:
        campaign = await create(client, org, world.without("bot_flow_id"))
        async with database.session() as session:
            row = await session.get(Campaign, campaign["id"])
            assert row is not None and row.missing == ["bot_flow_id"]

    async def test_auto_end_can_be_chosen(self, client: httpx.AsyncClient, org: OrgHandle, world: World) -> None:
        campaign = await create(client, org, world.campaign(auto_end_after_hours=12))
        assert campaign["auto_end_after_hours"] == 12


class TestBindingValidation:
    async def test_unknown_variable_is_refused(self, client: httpx.AsyncClient, org: OrgHandle, world: World) -> None:
        variables = world.campaign()["variables"] | {"3": {"source": "text", "value": "x"}}
        response = await client.post(BASE, json=world.campaign(variables=variables), headers=org.auth)
        assert response.status_code == 422
        assert error_fields(response) == ["variables.3"]

    async def test_unusable_template_is_refused_with_its_reason(
        self, client: httpx.AsyncClient, org: OrgHandle, world: World
    ) -> None:
        response = await client.post(BASE, json=world.campaign(template=NAMED, variables={}), headers=org.auth)
        assert response.status_code == 422
        assert error_fields(response) == ["template"]
        assert "named placeholders" in response.json()["error"]["message"]

    async def test_template_of_another_waba_is_refused(
        self, client: httpx.AsyncClient, org: OrgHandle, world: World, database: Database
    ) -> None:
        await make_template(database, org_id=org.id, waba_id="waba-2", name="elsewhere", variables=["1", "2"])
        body = world.campaign(template={"name": "elsewhere", "language": "en_US"})
        response = await client.post(BASE, json=body, headers=org.auth)
        assert response.status_code == 422
        assert error_fields(response) == ["template"]
        assert "another WhatsApp Business Account" in response.json()["error"]["message"]

    async def test_unknown_template_is_refused(self, client: httpx.AsyncClient, org: OrgHandle, world: World) -> None:
        body = world.campaign(template={"name": "nope", "language": "en_US"})
        response = await client.post(BASE, json=body, headers=org.auth)
        assert response.status_code == 422
        assert error_fields(response) == ["template"]

    async def test_text_variable_needs_a_value(self, client: httpx.AsyncClient, org: OrgHandle, world: World) -> None:
        variables = world.campaign()["variables"] | {"2": {"source": "text", "value": "  "}}
        response = await client.post(BASE, json=world.campaign(variables=variables), headers=org.auth)
        assert response.status_code == 422
        assert error_fields(response) == ["variables.2"]

    async def test_valued_tag_variable_needs_a_key(self, client: httpx.AsyncClient, org: OrgHandle, world: World) -> None:
        variables = world.campaign()["variables"] | {"2": {"source": "valued_tag"}}
        response = await client.post(BASE, json=world.campaign(variables=variables), headers=org.auth)
        assert response.status_code == 422
        assert error_fields(response) == ["variables.2"]

    async def test_ids_of_another_org_are_refused_naming_the_field(
        self, client: httpx.AsyncClient, org: OrgHandle, other_org: OrgHandle, world: World, database: Database
    ) -> None:
        theirs = await make_world(database, other_org.id, waba_id="waba-9")
        for field, value in (
            ("whatsapp_number_id", theirs.number_id),
            ("header_media_id", theirs.media_id),
            ("bot_flow_id", theirs.bot_flow_id),
        ):
            response = await client.post(BASE, json=world.campaign(**{field: value}), headers=org.auth)
            assert response.status_code == 422, field
            assert field in error_fields(response)

    async def test_media_of_another_number_is_refused(
        self, client: httpx.AsyncClient, org: OrgHandle, world: World, database: Database
    ) -> None:
        second = await make_number(database, org_id=org.id)
        media_id = await make_media(database, org_id=org.id, number_id=second)
        response = await client.post(BASE, json=world.campaign(header_media_id=media_id), headers=org.auth)
        assert response.status_code == 422
        assert error_fields(response) == ["header_media_id"]


class TestEditCampaign:
    async def test_active_campaign_refuses_a_new_name(
        self, client: httpx.AsyncClient, org: OrgHandle, world: World
    ) -> None:
        campaign = await create(client, org, world.campaign())
        assert (await act(client, org, campaign["id"], "start")).status_code == 200
        response = await client.patch(f"{BASE}/{campaign['id']}", json={"name": "New"}, headers=org.auth)
        assert response.status_code == 409
        assert response.json()["error"]["details"]["status"] == "active"

    async def test_active_campaign_takes_a_new_pace(self, client: httpx.AsyncClient, org: OrgHandle, world: World) -> None:
        campaign = await create(client, org, world.campaign())
        await act(client, org, campaign["id"], "start")
        response = await client.patch(f"{BASE}/{campaign['id']}", json={"rate_per_second": 50}, headers=org.auth)
        assert response.status_code == 200
        assert response.json()["rate_per_second"] == 50
        assert response.json()["status"] == "active"

    async def test_paused_campaign_takes_an_hourly_pace_within_throughput(
        self, client: httpx.AsyncClient, org: OrgHandle, world: World
    ) -> None:
        campaign = await create(client, org, world.campaign())
        await act(client, org, campaign["id"], "start")
        await act(client, org, campaign["id"], "pause")
        url = f"{BASE}/{campaign['id']}"
        too_fast = await client.patch(url, json={"rate_per_hour": 80 * 3600 + 1}, headers=org.auth)
        assert too_fast.status_code == 422
        assert error_fields(too_fast) == ["rate_per_hour"]
        response = await client.patch(url, json={"rate_per_hour": 3600}, headers=org.auth)
        assert response.json()["rate_per_hour"] == 3600
        assert response.json()["rate_per_second"] is None

    async def test_scheduled_and_ended_campaigns_cannot_be_edited(
        self, client: httpx.AsyncClient, org: OrgHandle, world: World
    ) -> None:
        campaign = await create(client, org, world.campaign())
        await act(client, org, campaign["id"], "start")
        await act(client, org, campaign["id"], "end")
        response = await client.patch(f"{BASE}/{campaign['id']}", json={"name": "x"}, headers=org.auth)
        assert response.status_code == 409
        assert response.json()["error"]["details"]["status"] == "ended"


class TestListAndGet:
    async def test_list_by_kind_and_status(
        self, client: httpx.AsyncClient, org: OrgHandle, world: World, database: Database
    ) -> None:
        await make_contact(database, org_id=org.id, phone="+14155552671")
        ready = await create(client, org, world.campaign())
        draft = await create(client, org, world.without("audience"))
        test = await client.post(f"{BASE}/{ready['id']}/test", json={"phones": ["+14155552671"]}, headers=org.auth)
        real = (await client.get(BASE, params={"kind": "real"}, headers=org.auth)).json()
        assert [c["id"] for c in real["items"]] == [draft["id"], ready["id"]]
        drafts = (await client.get(BASE, params={"status": "draft"}, headers=org.auth)).json()
        assert [c["id"] for c in drafts["items"]] == [draft["id"]]
        tests = (await client.get(BASE, params={"kind": "test"}, headers=org.auth)).json()
        assert [c["id"] for c in tests["items"]] == [test.json()["id"]]
        bad = await client.get(BASE, params={"kind": "fake"}, headers=org.auth)
        assert bad.status_code == 422

    async def test_pages_follow_the_cursor(self, client: httpx.AsyncClient, org: OrgHandle, world: World) -> None:
        ids = [(await create(client, org, world.campaign(name=f"c{i}")))["id"] for i in range(3)]
        first = (await client.get(BASE, params={"limit": 2}, headers=org.auth)).json()
        second = (await client.get(BASE, params={"limit": 2, "cursor": first["next_cursor"]}, headers=org.auth)).json()
        assert [c["id"] for c in first["items"] + second["items"]] == ids[::-1]
        assert second["next_cursor"] is None

    async def test_viewer_can_read(self, client: httpx.AsyncClient, org: OrgHandle, world: World) -> None:
        campaign = await create(client, org, world.campaign())
        response = await client.get(f"{BASE}/{campaign['id']}", headers=org.headers(Role.viewer))
        assert response.status_code == 200


class TestDeleteCampaign:
    async def test_draft_and_ended_campaigns_are_deleted_with_their_rows(
        self, client: httpx.AsyncClient, org: OrgHandle, world: World, database: Database
    ) -> None:
        draft = await create(client, org, world.without("audience"))
        assert (await client.delete(f"{BASE}/{draft['id']}", headers=org.auth)).status_code == 204
        assert (await client.get(f"{BASE}/{draft['id']}", headers=org.auth)).status_code == 404

        for phone in ("+14155552671", "+14155552672"):
            await make_contact(database, org_id=org.id, phone=phone, tags=["vip"])
        ended = await create(client, org, world.campaign())
        await act(client, org, ended["id"], "start")
        await materialize_job(database, {"campaign_id": ended["id"]})  # what the worker does at launch
        async with database.read_session() as session:
            materialised = await session.scalar(
                select(func.count()).where(CampaignMessage.campaign_id == ended["id"]))
        assert materialised
        await act(client, org, ended["id"], "end")
        assert (await client.delete(f"{BASE}/{ended['id']}", headers=org.auth)).status_code == 204
        async with database.session() as session:
            stats = await session.scalar(select(func.count()).where(CampaignStats.campaign_id == ended["id"]))
            messages = await session.scalar(select(func.count()).where(CampaignMessage.campaign_id == ended["id"]))
        assert stats == 0 and messages == 0

    async def test_running_campaigns_cannot_be_deleted(
        self, client: httpx.AsyncClient, org: OrgHandle, world: World
    ) -> None:
        campaign = await create(client, org, world.campaign())
        await act(client, org, campaign["id"], "start")
        for expected in ("active", "paused"):
            response = await client.delete(f"{BASE}/{campaign['id']}", headers=org.auth)
            assert response.status_code == 409
            assert response.json()["error"]["details"]["status"] == expected
            await act(client, org, campaign["id"], "pause")


class TestDuplicateCampaign:
    async def test_copy_has_the_same_settings_as_a_new_real_campaign(
        self, client: httpx.AsyncClient, org: OrgHandle, world: World
    ) -> None:
        source = await create(client, org, world.campaign(auto_end_after_hours=24))
        await act(client, org, source["id"], "start")
        response = await client.post(f"{BASE}/{source['id']}/duplicate", headers=org.auth)
        assert response.status_code == 201
        copy = response.json()
        assert copy["id"] != source["id"]
        assert copy["name"] == "Spring sale (copy)"
        assert copy["status"] == "ready"
        assert copy["started_at"] is None and copy["rate_per_second"] is None
        same = ("whatsapp_number_id", "audience", "template", "variables", "header_media_id", "bot_flow_id",
                "auto_end_after_hours")
        assert {k: copy[k] for k in same} == {k: source[k] for k in same}

    async def test_copy_of_a_test_campaign_is_a_real_draft_without_audience(
        self, client: httpx.AsyncClient, org: OrgHandle, world: World, database: Database
    ) -> None:
        await make_contact(database, org_id=org.id, phone="+14155552671")
        source = await create(client, org, world.campaign())
        test = (await client.post(f"{BASE}/{source['id']}/test", json={"phones": ["+14155552671"]}, headers=org.auth)).json()
        copy = (await client.post(f"{BASE}/{test['id']}/duplicate", headers=org.auth)).json()
        assert (copy["kind"], copy["parent_id"], copy["status"]) == ("real", None, "draft")
        assert copy["missing"] == ["audience"]
        assert copy["auto_end_after_hours"] == 72


class TestAccess:
    async def test_viewer_cannot_write(self, client: httpx.AsyncClient, org: OrgHandle, world: World) -> None:
        campaign = await create(client, org, world.campaign())
        viewer = org.headers(Role.viewer)
        cid = campaign["id"]
        calls = [
            client.post(BASE, json=world.campaign(), headers=viewer),
            client.patch(f"{BASE}/{cid}", json={"name": "x"}, headers=viewer),
            client.delete(f"{BASE}/{cid}", headers=viewer),
            client.post(f"{BASE}/{cid}/duplicate", headers=viewer),
            client.post(f"{BASE}/{cid}/test", json={"phones": ["+14155552671"]}, headers=viewer),
        ] + [client.post(f"{BASE}/{cid}/{action}", headers=viewer)
             for action in ("start", "pause", "resume", "end", "unschedule")]
        for call in calls:
            response = await call
            assert response.status_code == 403, response.request.url

    async def test_another_orgs_campaign_is_not_found(
        self, client: httpx.AsyncClient, org: OrgHandle, other_org: OrgHandle, world: World
    ) -> None:
        cid = (await create(client, org, world.campaign()))["id"]
        them = other_org.auth
        responses = [
            await client.get(f"{BASE}/{cid}", headers=them),
            await client.patch(f"{BASE}/{cid}", json={"name": "x"}, headers=them),
            await client.delete(f"{BASE}/{cid}", headers=them),
            await client.post(f"{BASE}/{cid}/duplicate", headers=them),
            await client.post(f"{BASE}/{cid}/audience-preview", headers=them),
            await client.post(f"{BASE}/{cid}/test", json={"phones": ["+14155552671"]}, headers=them),
            await client.post(f"{BASE}/{cid}/schedule", json={"start_at": "2999-01-01T00:00:00Z", "rate_per_hour": 10}, headers=them),
        ] + [await client.post(f"{BASE}/{cid}/{a}", headers=them) for a in ("start", "pause", "resume", "end", "unschedule")]
        assert [r.status_code for r in responses] == [404] * len(responses)
        listed = (await client.get(BASE, headers=them)).json()
        assert listed["items"] == []
        assert (await client.get(f"{BASE}/{cid}", headers=org.auth)).json()["status"] == "ready"
