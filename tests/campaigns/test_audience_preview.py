from __future__ import annotations

from typing import Any

import httpx

from herald.auth.principal import Role
from herald.campaigns import reasons
from herald.kit.db import Database
from tests.campaigns.conftest import BASE, act, create
from tests.conftest import OrgHandle
from tests.factories import World, engage, make_contact, open_case

CUSTOMER_ID = {"source": "valued_tag", "key": "customer_id"}


def excluded(opted: int, engaged: int, case: int, missing: int) -> dict[str, int]:
    return {
        reasons.OPTED_OUT: opted,
        reasons.ALREADY_ENGAGED: engaged,
        reasons.OPEN_CASE: case,
        reasons.valued_tag_missing("customer_id"): missing,
    }


async def mixed_audience(database: Database, org_id: int, *, campaign_id: int, elsewhere_id: int) -> None:
    """Seven vip contacts, each excluded (or not) by a different rule, and one outsider. With the
    world's own vip contact (no customer_id), eight match and three lack the valued tag."""
    ids = iter(range(10))

    async def contact(**kwargs: Any) -> int:
        return await make_contact(database, org_id=org_id, phone=f"+1415555267{next(ids)}", **kwargs)

    vip_with_id = {"tags": ["vip"], "valued_tags": {"customer_id": "8812"}}
    await contact(**vip_with_id)  # eligible
    opted = await contact(**vip_with_id, opted_out=True)
    await open_case(database, org_id=org_id, contact_id=opted)  # still counted once, as opted out
    await engage(database, contact_id=await contact(**vip_with_id), campaign_id=elsewhere_id)
    await open_case(database, org_id=org_id, contact_id=await contact(**vip_with_id))
    await contact(tags=["vip"])  # no customer_id
    await contact(tags=["vip"], valued_tags={"customer_id": ""})  # empty renders nothing: missing too
    await engage(database, contact_id=await contact(**vip_with_id), campaign_id=campaign_id)  # engaged here, not elsewhere: eligible
    await contact(tags=["other"], valued_tags={"customer_id": "1"})  # not in the segment


def counts(preview: dict[str, Any]) -> dict[str, Any]:
    """The preview without its cost forecast (tests/pricing check that)."""
    return {k: v for k, v in preview.items() if k != "cost"}


class TestAudiencePreview:
    async def test_each_contact_counts_once_under_its_first_reason(
        self, client: httpx.AsyncClient, org: OrgHandle, world: World, database: Database
    ) -> None:
        # A binding names a key some contact carries (an outsider here, not in the segment).
        await make_contact(database, org_id=org.id, phone="+14155552690", tags=["other"], valued_tags={"customer_id": "2"})
        variables = world.campaign()["variables"] | {"2": CUSTOMER_ID}
        campaign = await create(client, org, world.campaign(variables=variables))
        elsewhere = await create(client, org, world.campaign(name="Other"))
        await mixed_audience(database, org.id, campaign_id=campaign["id"], elsewhere_id=elsewhere["id"])

        response = await client.post(f"{BASE}/{campaign['id']}/audience-preview", headers=org.headers(Role.viewer))
        assert response.status_code == 200
        assert counts(response.json()) == {"matched": 8, "eligible": 2, "excluded": excluded(1, 1, 1, 3)}

    async def test_unsaved_audience_gives_the_same_counts(
        self, client: httpx.AsyncClient, org: OrgHandle, world: World, database: Database
    ) -> None:
        campaign = await create(client, org, world.campaign())
        elsewhere = await create(client, org, world.campaign(name="Other"))
        await mixed_audience(database, org.id, campaign_id=campaign["id"], elsewhere_id=elsewhere["id"])
        body = {"audience": {"tags_any": ["vip"]}, "variables": {"1": {"source": "contact_name"}, "2": CUSTOMER_ID}}
        response = await client.post(f"{BASE}/audience-preview", json=body, headers=org.auth)
        # Unsaved, so every engagement is elsewhere: the contact engaged in `campaign` counts too.
        assert counts(response.json()) == {"matched": 8, "eligible": 1, "excluded": excluded(1, 2, 1, 3)}

    async def test_preview_changes_nothing(
        self, client: httpx.AsyncClient, org: OrgHandle, world: World, database: Database
    ) -> None:
        campaign = await create(client, org, world.campaign())
        await make_contact(database, org_id=org.id, phone="+14155552671", tags=["vip"])
        await client.post(f"{BASE}/{campaign['id']}/audience-preview", headers=org.auth)
        after = (await client.get(f"{BASE}/{campaign['id']}", headers=org.auth)).json()
        assert after == campaign

    async def test_segment_clauses_are_anded(
        self, client: httpx.AsyncClient, org: OrgHandle, world: World, database: Database
    ) -> None:
        await make_contact(database, org_id=org.id, phone="+14155552671", tags=["vip", "es"], valued_tags={"plan": "gold"})
        await make_contact(database, org_id=org.id, phone="+14155552672", tags=["vip", "es"], valued_tags={"plan": "free"})
        await make_contact(database, org_id=org.id, phone="+14155552673", tags=["vip"], valued_tags={"plan": "gold"})
        await make_contact(database, org_id=org.id, phone="+14155552674")
        audience = {"tags_all": ["vip", "es"], "valued_tags": [{"key": "plan", "value": "gold"}]}
        response = await client.post(f"{BASE}/audience-preview", json={"audience": audience}, headers=org.auth)
        assert response.json()["matched"] == 1
        unknown_tag = {"tags_any": ["nobody-has-this"]}
        response = await client.post(f"{BASE}/audience-preview", json={"audience": unknown_tag}, headers=org.auth)
        assert response.json()["matched"] == 0

    async def test_no_audience_matches_nobody(
        self, client: httpx.AsyncClient, org: OrgHandle, world: World, database: Database
    ) -> None:
        await make_contact(database, org_id=org.id, phone="+14155552671", tags=["vip"])
        response = await client.post(f"{BASE}/audience-preview", json={}, headers=org.auth)
        assert counts(response.json()) == {
            "matched": 0, "eligible": 0,
            "excluded": {reasons.OPTED_OUT: 0, reasons.ALREADY_ENGAGED: 0, reasons.OPEN_CASE: 0},
        }

    async def test_test_campaign_previews_its_testers(
        self, client: httpx.AsyncClient, org: OrgHandle, world: World, database: Database
    ) -> None:
        await make_contact(database, org_id=org.id, phone="+14155552671")
        await make_contact(database, org_id=org.id, phone="+14155552672", opted_out=True)
        parent = await create(client, org, world.campaign())
        test = (await act(client, org, parent["id"], "test", phones=["+14155552671", "+14155552672"])).json()
        preview = (await client.post(f"{BASE}/{test['id']}/audience-preview", headers=org.auth)).json()
        assert (preview["matched"], preview["eligible"], preview["excluded"][reasons.OPTED_OUT]) == (2, 1, 1)

    async def test_another_orgs_contacts_are_not_counted(
        self, client: httpx.AsyncClient, org: OrgHandle, other_org: OrgHandle, world: World, database: Database
    ) -> None:
        await make_contact(database, org_id=other_org.id, phone="+14155552671", tags=["vip"])
        body = {"audience": {"tags_any": ["vip"]}}
        # Only the world's own vip contact: the other organization's is not counted.
        assert (await client.post(f"{BASE}/audience-preview", json=body, headers=org.auth)).json()["matched"] == 1
