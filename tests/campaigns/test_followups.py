"""Follow-ups by outcome through the API (campaigns/followups.py): each outcome freezes exactly its
contacts, the snapshot stays as it was taken, the follow-up is sent to the snapshot narrowed by its
tags, and the links go both ways. The parent's outcomes are message rows as the engine leaves them;
tests/dispatch/test_followups_end_to_end.py gets them from the simulator's webhooks instead."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import select, update

from herald.auth.principal import Role
from herald.dispatch.materialize import materialize_chunk
from herald.kit.db import Database
from herald.kit.types import utcnow
from herald.models import Campaign, CampaignMessage, Contact, FunnelEvent, InboundMessage
from tests.campaigns.conftest import BASE, error_fields
from tests.conftest import OrgHandle
from tests.factories import World, make_contacts

# name → (message status, error code, replied, tags)
PARENT: dict[str, tuple[str, int | None, bool, list[str]]] = {
    "failed": ("failed", 130472, False, ["vip"]),
    "unknown": ("unknown", None, False, ["vip", "gold"]),
    "invalid": ("failed", 131026, False, ["vip"]),
    "stopped": ("failed", 131050, False, ["vip"]),
    "opted_out": ("failed", 130472, False, ["vip"]),
    "never_sent": ("not_sent", None, False, ["vip"]),
    "delivered": ("delivered", None, False, ["vip", "gold"]),
    "delivered2": ("delivered", None, False, ["vip"]),
    "read": ("read", None, False, ["vip", "gold"]),
    "text_reply": ("delivered", None, True, ["vip"]),
    "yes": ("read", None, True, ["vip", "gold"]),
    "no": ("delivered", None, True, ["vip"]),
    "sent": ("sent", None, False, ["vip"]),
}
# name → (inbound type, text, payload)
REPLIES = {
    "text_reply": ("text", "hello", {}),
    "yes": ("button", "Yes please", {"button_payload": "YES", "button_text": "Yes please"}),
    "no": ("interactive", "No thanks", {"interactive_id": "NO", "interactive_title": "No thanks"}),
}
STEPS = {"paid": ["yes", "text_reply"]}


async def ran_campaign(database: Database, world: World, *, status: str = "ended", kind: str = "real") -> dict[str, Any]:
    """A campaign of the world's settings that ran: one message per ``PARENT`` contact."""
    specs = [{"phone": f"+1415557{i:04d}", "name": name, "tags": tags, "opted_out": name == "opted_out"}
             for i, (name, (_s, _c, _r, tags)) in enumerate(PARENT.items())]
    ids = dict(zip(PARENT, await make_contacts(database, org_id=world.org_id, specs=specs), strict=True))
    now = utcnow()
    async with database.session() as session:
        campaign = Campaign(
            org_id=world.org_id, kind=kind, name="Spring sale", status=status, missing=[], started_at=now,
            whatsapp_number_id=world.number_id, audience={"tags_any": ["vip"]}, template_name="promo",
            template_language="en_US", variables={"1": {"source": "contact_name", "fallback": "friend"},
                                                  "2": {"source": "text", "value": "20% off"}},
            header_media_id=world.media_id, bot_flow_id=world.bot_flow_id, ended_at=now if status == "ended" else None,
        )
        session.add(campaign)
        await session.flush()
        for name, (status_, code, replied, _tags) in PARENT.items():
            session.add(CampaignMessage(campaign_id=campaign.id, contact_id=ids[name], status=status_, error_code=code,
                                        wamid=f"wamid.{campaign.id}.{name}", replied_at=now if replied else None))
        for name, (kind_, text, payload) in REPLIES.items():
            session.add(InboundMessage(org_id=world.org_id, whatsapp_number_id=world.number_id, contact_id=ids[name],
                                       campaign_id=campaign.id, wamid=f"wamid.in.{campaign.id}.{name}", type=kind_,
                                       text=text, payload={"type": kind_, **payload}, sent_at=now))
        for step, names in STEPS.items():
            for name in names:
                session.add(FunnelEvent(campaign_id=campaign.id, contact_id=ids[name], step=step, at=now))
    return {"id": campaign.id, "contacts": ids}


async def follow_up(client: httpx.AsyncClient, org: OrgHandle, parent: int, role: Role = Role.editor,
                    **body: Any) -> httpx.Response:
    return await client.post(f"{BASE}/{parent}/follow-ups", json=body, headers=org.headers(role))


async def snapshot_names(client: httpx.AsyncClient, org: OrgHandle, campaign_id: int, limit: int = 2) -> list[str]:
    """Every contact of the snapshot, page after page."""
    names: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": limit} | ({"cursor": cursor} if cursor else {})
        page = (await client.get(f"{BASE}/{campaign_id}/audience-snapshot", params=params, headers=org.auth)).json()
        names += [item["name"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            assert page["count"] == len(names)
            return sorted(names)


class TestOutcomes:
    async def test_each_outcome_freezes_exactly_its_contacts(
        self, client: httpx.AsyncClient, database: Database, org: OrgHandle, world: World
    ) -> None:
        parent = await ran_campaign(database, world)
        expected = {
            ("not_delivered", None, None): ["failed", "unknown"],
            ("delivered_not_read", None, None): ["delivered", "delivered2"],
            ("read_not_replied", None, None): ["read"],
            ("replied_button", "YES", None): ["yes"],
            ("replied_button", "Yes please", None): ["yes"],  # its text names it too
            ("replied_button", "NO", None): ["no"],
            ("reached_step", None, "paid"): ["text_reply", "yes"],
            ("not_reached_step", None, "paid"): ["delivered", "delivered2", "no", "read", "sent"],
        }
        for (outcome, button, step), names in expected.items():
            answer = await follow_up(client, org, parent["id"], outcome=outcome, button=button, step=step)
            assert answer.status_code == 201, answer.text
            child = answer.json()
            assert (child["parent_campaign_id"], child["followup_outcome"]) == (parent["id"], outcome)
            assert child["followup_value"] == (button or step)
            assert await snapshot_names(client, org, child["id"]) == sorted(names), (outcome, button, step)

    async def test_the_choices_count_each_outcome_before_creating(
        self, client: httpx.AsyncClient, database: Database, org: OrgHandle, world: World
    ) -> None:
        parent = await ran_campaign(database, world)
        body = (await client.get(f"{BASE}/{parent['id']}/follow-up-choices", headers=org.headers(Role.viewer))).json()
        assert body["can_follow_up"]
        counts = {(c["outcome"], c["button"] or c["step"]): c["contacts"] for c in body["choices"]}
        words = {c["button"]: c["description"] for c in body["choices"] if c["button"]}
        assert words == {"YES": "replied with button “Yes please” (YES)", "NO": "replied with button “No thanks” (NO)"}
        assert counts == {
            ("not_delivered", None): 2, ("delivered_not_read", None): 2, ("read_not_replied", None): 1,
            ("replied_button", "YES"): 1, ("replied_button", "NO"): 1,
            ("reached_step", "paid"): 2, ("not_reached_step", "paid"): 5,
        }

    async def test_the_snapshot_is_frozen_and_deleted_contacts_drop_out(
        self, client: httpx.AsyncClient, database: Database, org: OrgHandle, world: World
    ) -> None:
        parent = await ran_campaign(database, world)
        child = (await follow_up(client, org, parent["id"], outcome="delivered_not_read")).json()
        async with database.session() as session:  # "delivered" reads it after the follow-up was made
            await session.execute(update(CampaignMessage).where(
                CampaignMessage.campaign_id == parent["id"], CampaignMessage.contact_id == parent["contacts"]["delivered"],
            ).values(status="read"))
        assert await snapshot_names(client, org, child["id"]) == ["delivered", "delivered2"]
        later = (await follow_up(client, org, parent["id"], outcome="delivered_not_read")).json()
        assert await snapshot_names(client, org, later["id"]) == ["delivered2"]
        deleted = await client.delete(f"/api/v1/contacts/{parent['contacts']['delivered2']}", headers=org.auth)
        assert deleted.status_code == 204, deleted.text
        assert await snapshot_names(client, org, child["id"]) == ["delivered"]


class TestFollowUpCampaign:
    async def test_it_inherits_the_parent_settings_and_is_ready_without_tags(
        self, client: httpx.AsyncClient, database: Database, org: OrgHandle, world: World
    ) -> None:
        parent = await ran_campaign(database, world, status="active")
        child = (await follow_up(client, org, parent["id"], outcome="read_not_replied", name="  Nudge  ")).json()
        assert child["name"] == "Nudge" and child["kind"] == "real"
        assert child["status"] == "ready", child["missing"]
        assert child["audience"] is None
        assert (child["whatsapp_number_id"], child["template"]["name"], child["bot_flow_id"], child["header_media_id"]) \
            == (world.number_id, "promo", world.bot_flow_id, world.media_id)
        assert child["variables"]["2"] == {"source": "text", "value": "20% off"}
        default = (await follow_up(client, org, parent["id"], outcome="reached_step", step="paid")).json()
        assert default["name"] == "Spring sale — reached step “paid”"

    async def test_it_is_sent_to_the_snapshot_narrowed_by_its_tags(
        self, client: httpx.AsyncClient, database: Database, org: OrgHandle, world: World
    ) -> None:
        parent = await ran_campaign(database, world)
        child = (await follow_up(client, org, parent["id"], outcome="not_reached_step", step="paid")).json()
        # Tags AND snapshot: "gold" alone would also take "unknown" and "yes", which are not in the snapshot.
        edited = await client.patch(f"{BASE}/{child['id']}", json={"audience": {"tags_any": ["gold"]}}, headers=org.auth)
        assert edited.status_code == 200, edited.text
        preview = (await client.post(f"{BASE}/{child['id']}/audience-preview", headers=org.auth)).json()
        assert (preview["matched"], preview["eligible"]) == (2, 2)
        started = await client.post(f"{BASE}/{child['id']}/start", json={"rate_per_second": 1}, headers=org.auth)
        assert started.status_code == 200, started.text
        async with database.session() as session:
            while await materialize_chunk(session, campaign_id=child["id"], chunk=1):
                pass
        async with database.read_session() as session:
            sent_to = (await session.execute(
                select(Contact.name).join(CampaignMessage, CampaignMessage.contact_id == Contact.id)
                .where(CampaignMessage.campaign_id == child["id"])
            )).scalars().all()
        assert sorted(sent_to) == ["delivered", "read"]

    async def test_links_go_both_ways(
        self, client: httpx.AsyncClient, database: Database, org: OrgHandle, world: World
    ) -> None:
        parent = await ran_campaign(database, world)
        first = (await follow_up(client, org, parent["id"], outcome="not_delivered")).json()
        second = (await follow_up(client, org, parent["id"], outcome="replied_button", button="YES")).json()
        listed = (await client.get(f"{BASE}/{parent['id']}/follow-ups", headers=org.headers(Role.viewer))).json()
        assert [(f["id"], f["description"], f["contacts"], f["button"]) for f in listed["items"]] == [
            (first["id"], "not delivered", 2, None), (second["id"], "replied with button “YES”", 1, "YES"),
        ]
        got = (await client.get(f"{BASE}/{second['id']}", headers=org.auth)).json()
        assert got["parent_campaign_id"] == parent["id"]
        # The parent deleted: the follow-up keeps its audience and loses the link.
        async with database.session() as session:
            await session.execute(update(Campaign).where(Campaign.id == parent["id"]).values(status="ended"))
        assert (await client.delete(f"{BASE}/{parent['id']}", headers=org.auth)).status_code == 204
        got = (await client.get(f"{BASE}/{second['id']}", headers=org.auth)).json()
        assert got["parent_campaign_id"] is None and got["followup_outcome"] == "replied_button"
        assert await snapshot_names(client, org, second["id"]) == ["yes"]


class TestErrors:
    async def test_only_a_campaign_that_ran_can_be_followed_up(
        self, client: httpx.AsyncClient, database: Database, org: OrgHandle, world: World
    ) -> None:
        draft = await client.post(BASE, json=world.campaign(), headers=org.auth)
        refused = await follow_up(client, org, draft.json()["id"], outcome="not_delivered")
        assert refused.status_code == 409 and refused.json()["error"]["code"] == "not_followable"
        test = await ran_campaign(database, world, kind="test")
        refused = await follow_up(client, org, test["id"], outcome="not_delivered")
        assert refused.status_code == 409 and refused.json()["error"]["code"] == "not_followable"
        choices = (await client.get(f"{BASE}/{test['id']}/follow-up-choices", headers=org.auth)).json()
        assert choices == {"can_follow_up": False, "choices": []}
        assert (await follow_up(client, org, 10**9, outcome="not_delivered")).status_code == 404

    async def test_bad_input_names_its_field(
        self, client: httpx.AsyncClient, database: Database, org: OrgHandle, world: World
    ) -> None:
        parent = await ran_campaign(database, world)
        for body, field in (
            ({"outcome": "clicked"}, "outcome"), ({}, "outcome"),
            ({"outcome": "replied_button"}, "button"), ({"outcome": "replied_button", "button": "  "}, "button"),
            ({"outcome": "reached_step"}, "step"), ({"outcome": "not_reached_step", "step": ""}, "step"),
        ):
            answer = await follow_up(client, org, parent["id"], **body)
            assert answer.status_code == 422, (body, answer.text)
            assert error_fields(answer) == [field], (body, answer.text)
        async with database.read_session() as session:
            assert not (await session.execute(select(Campaign.id).where(Campaign.parent_campaign_id == parent["id"]))).all()

    async def test_a_viewer_cannot_create_one_and_a_plain_campaign_has_no_snapshot(
        self, client: httpx.AsyncClient, database: Database, org: OrgHandle, world: World
    ) -> None:
        parent = await ran_campaign(database, world)
        assert (await follow_up(client, org, parent["id"], Role.viewer, outcome="not_delivered")).status_code == 403
        missing = await client.get(f"{BASE}/{parent['id']}/audience-snapshot", headers=org.auth)
        assert missing.status_code == 404 and missing.json()["error"]["code"] == "no_audience_snapshot"
