"""The frequency cap's setting, a campaign's exemption from it, and the audience preview's reason
(campaigns/frequency_cap.py; the engine side: tests/dispatch/test_frequency_caps.py)."""

from __future__ import annotations

from datetime import timedelta

import httpx
from sqlalchemy import update

from herald.auth.principal import Role
from herald.kit.db import Database
from herald.kit.types import utcnow
from herald.models import Campaign, CampaignMessage
from tests.campaigns.conftest import BASE, create, error_fields
from tests.conftest import OrgHandle
from tests.factories import World, make_contact

SETTINGS = "/api/v1/settings"
REASON = "frequency cap reached (1 in 7 days)"


async def sent_before(database: Database, *, campaign_id: int, contact_id: int, days_ago: float) -> None:
    """An earlier campaign's message WhatsApp accepted ``days_ago`` days ago."""
    async with database.session() as session:
        session.add(CampaignMessage(
            campaign_id=campaign_id, contact_id=contact_id, status="delivered", wamid=f"wamid.{campaign_id}.{contact_id}",
            sent_at=utcnow() - timedelta(days=days_ago),
        ))


class TestSetting:
    async def test_an_admin_sets_and_removes_the_cap(self, client: httpx.AsyncClient, org: OrgHandle) -> None:
        viewer = org.headers(Role.viewer)
        before = (await client.get(SETTINGS, headers=viewer)).json()
        assert before["frequency_cap_messages"] is None and before["frequency_cap_days"] is None
        answer = await client.patch(SETTINGS, headers=org.auth, json={"frequency_cap_messages": 2, "frequency_cap_days": 7})
        assert answer.status_code == 200, answer.text
        read = (await client.get(SETTINGS, headers=viewer)).json()
        assert (read["frequency_cap_messages"], read["frequency_cap_days"]) == (2, 7)
        assert read["opt_out_keywords"] == before["opt_out_keywords"]  # the other settings stay
        # One value alone changes just that one.
        answer = await client.patch(SETTINGS, headers=org.auth, json={"frequency_cap_days": 14})
        assert (answer.json()["frequency_cap_messages"], answer.json()["frequency_cap_days"]) == (2, 14)
        answer = await client.patch(SETTINGS, headers=org.auth, json={"frequency_cap_messages": None,
                                                                       "frequency_cap_days": None})
        assert (answer.json()["frequency_cap_messages"], answer.json()["frequency_cap_days"]) == (None, None)

    async def test_bad_values_are_422_naming_the_field(self, client: httpx.AsyncClient, org: OrgHandle) -> None:
        for body, field in [
            ({"frequency_cap_messages": 0, "frequency_cap_days": 7}, "frequency_cap_messages"),
            ({"frequency_cap_messages": 2, "frequency_cap_days": 365}, "frequency_cap_days"),
            ({"frequency_cap_messages": "two", "frequency_cap_days": 7}, "frequency_cap_messages"),
            ({"frequency_cap_messages": 2}, "frequency_cap_days"),  # no cap yet: the days are missing
        ]:
            answer = await client.patch(SETTINGS, headers=org.auth, json=body)
            assert answer.status_code == 422, body
            assert field in error_fields(answer)[0], (body, answer.text)
        assert (await client.get(SETTINGS, headers=org.auth)).json()["frequency_cap_messages"] is None

    async def test_only_an_admin_changes_it(self, client: httpx.AsyncClient, org: OrgHandle) -> None:
        answer = await client.patch(SETTINGS, headers=org.headers(Role.editor),
                                    json={"frequency_cap_messages": 2, "frequency_cap_days": 7})
        assert answer.status_code == 403


class TestExempt:
    async def test_only_an_admin_exempts_a_campaign(
        self, client: httpx.AsyncClient, org: OrgHandle, world: World
    ) -> None:
        editor = org.headers(Role.editor)
        refused = await client.post(BASE, json=world.campaign(frequency_cap_exempt=True), headers=editor)
        assert refused.status_code == 403
        assert refused.json()["error"]["details"] == {"field": "frequency_cap_exempt"}
        campaign = await create(client, org, world.campaign())
        assert campaign["frequency_cap_exempt"] is False
        refused = await client.patch(f"{BASE}/{campaign['id']}", json={"frequency_cap_exempt": True}, headers=editor)
        assert refused.status_code == 403
        answer = await client.patch(f"{BASE}/{campaign['id']}", json={"frequency_cap_exempt": True}, headers=org.auth)
        assert answer.json()["frequency_cap_exempt"] is True
        # An editor's other edits keep it.
        answer = await client.patch(f"{BASE}/{campaign['id']}", json={"name": "Service notice"}, headers=editor)
        assert answer.status_code == 200 and answer.json()["frequency_cap_exempt"] is True


class TestAudiencePreview:
    async def test_contacts_at_the_cap_show_under_its_reason(
        self, client: httpx.AsyncClient, org: OrgHandle, world: World, database: Database
    ) -> None:
        await client.patch(SETTINGS, headers=org.auth, json={"frequency_cap_messages": 1, "frequency_cap_days": 7})
        earlier = await create(client, org, world.campaign(name="Earlier"))
        campaign = await create(client, org, world.campaign())
        recent = await make_contact(database, org_id=org.id, phone="+14155553001", tags=["vip"])
        long_ago = await make_contact(database, org_id=org.id, phone="+14155553002", tags=["vip"])
        await sent_before(database, campaign_id=earlier["id"], contact_id=recent, days_ago=2)
        await sent_before(database, campaign_id=earlier["id"], contact_id=long_ago, days_ago=8)

        async def preview(campaign_id: int) -> dict[str, int]:
            answer = await client.post(f"{BASE}/{campaign_id}/audience-preview", headers=org.headers(Role.viewer))
            assert answer.status_code == 200, answer.text
            return answer.json()  # type: ignore[no-any-return]

        shown = await preview(campaign["id"])
        assert shown["excluded"][REASON] == 1 and shown["eligible"] == 2  # the world's vip, and long_ago
        # The earlier campaign's own sends do not hold back its own contacts.
        assert (await preview(earlier["id"]))["excluded"][REASON] == 0
        # Exempt: no cap, no reason.
        await client.patch(f"{BASE}/{campaign['id']}", json={"frequency_cap_exempt": True}, headers=org.auth)
        assert REASON not in (await preview(campaign["id"]))["excluded"]
        # An exempt campaign's sends do not count.
        async with database.session() as session:
            await session.execute(update(Campaign).where(Campaign.id == earlier["id"]).values(frequency_cap_exempt=True))
        await client.patch(f"{BASE}/{campaign['id']}", json={"frequency_cap_exempt": False}, headers=org.auth)
        assert (await preview(campaign["id"]))["excluded"][REASON] == 0
