"""A campaign names only valued tag keys some contact of the organization has: a typo in a binding or
a segment (``custmer_id``) is refused with a 422 naming the field, instead of sending to nobody. The
keys' values are listed for the audience picker, the most common first."""

from __future__ import annotations

import httpx

from herald.kit.db import Database
from tests.campaigns.conftest import BASE, create, error_fields
from tests.conftest import OrgHandle
from tests.factories import World, make_contact

TYPO = "No contact has a valued tag “custmer_id”. Pick one of the existing keys."


async def customers(database: Database, org_id: int) -> None:
    for i, plan in enumerate(["gold", "gold", "silver"]):
        await make_contact(database, org_id=org_id, phone=f"+1415555300{i}", tags=["vip"],
                           valued_tags={"customer_id": f"C{i}", "plan": plan})


class TestUnknownKeys:
    async def test_a_binding_naming_a_key_nobody_has_is_refused_naming_the_variable(
        self, client: httpx.AsyncClient, org: OrgHandle, world: World, database: Database
    ) -> None:
        await customers(database, org.id)
        typo = world.campaign()["variables"] | {"2": {"source": "valued_tag", "key": "custmer_id"}}
        refused = await client.post(BASE, json=world.campaign(variables=typo), headers=org.auth)
        assert refused.status_code == 422
        assert error_fields(refused) == ["variables.2"] and refused.json()["error"]["message"] == TYPO

        good = world.campaign()["variables"] | {"2": {"source": "valued_tag", "key": "customer_id"}}
        campaign = await create(client, org, world.campaign(variables=good))
        assert campaign["status"] == "ready"
        patched = await client.patch(f"{BASE}/{campaign['id']}", json={"variables": typo}, headers=org.auth)
        assert patched.status_code == 422 and error_fields(patched) == ["variables.2"]
        stored = (await client.get(f"{BASE}/{campaign['id']}", headers=org.auth)).json()
        assert stored["variables"]["2"] == {"source": "valued_tag", "key": "customer_id"}

    async def test_a_segment_naming_a_key_nobody_has_is_refused_naming_the_audience(
        self, client: httpx.AsyncClient, org: OrgHandle, world: World, database: Database
    ) -> None:
        await customers(database, org.id)
        for clause in ({"key": "custmer_id"}, {"key": "custmer_id", "value": "C1"}):
            refused = await client.post(BASE, json=world.campaign(audience={"valued_tags": [clause]}), headers=org.auth)
            assert refused.status_code == 422, refused.text
            assert error_fields(refused) == ["audience"] and refused.json()["error"]["message"] == TYPO
        # A key that is not one at all is refused by the key rule, never stored.
        spaced = await client.post(BASE, json=world.campaign(
            audience={"valued_tags": [{"key": "this is", "value": "not valid"}]}), headers=org.auth)
        assert spaced.status_code == 422 and error_fields(spaced) == ["audience"]
        assert "valued tag key 'this is' is not valid" in spaced.json()["error"]["message"]
        ok = await create(client, org, world.campaign(audience={"valued_tags": [{"key": "plan", "value": "gold"}]}))
        assert ok["status"] == "ready"

    async def test_another_organizations_keys_do_not_count(
        self, client: httpx.AsyncClient, org: OrgHandle, other_org: OrgHandle, world: World, database: Database
    ) -> None:
        await customers(database, other_org.id)
        refused = await client.post(BASE, json=world.campaign(audience={"valued_tags": [{"key": "plan"}]}),
                                    headers=org.auth)
        assert refused.status_code == 422 and error_fields(refused) == ["audience"]


class TestValuesOfAKey:
    async def test_values_come_most_common_first_with_counts_and_filter_by_prefix(
        self, client: httpx.AsyncClient, org: OrgHandle, database: Database
    ) -> None:
        await customers(database, org.id)
        listed = await client.get("/api/v1/valued-tags/plan/values", headers=org.auth)
        assert listed.status_code == 200
        assert listed.json() == [{"value": "gold", "contacts": 2}, {"value": "silver", "contacts": 1}]
        searched = await client.get("/api/v1/valued-tags/plan/values", params={"q": "si"}, headers=org.auth)
        assert searched.json() == [{"value": "silver", "contacts": 1}]
        assert (await client.get("/api/v1/valued-tags/nope/values", headers=org.auth)).json() == []
        too_long = await client.get("/api/v1/valued-tags/plan/values", params={"q": "x" * 201}, headers=org.auth)
        assert too_long.status_code == 422
