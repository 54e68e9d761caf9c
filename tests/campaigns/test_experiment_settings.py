"""Holdout share and A/B variants through the campaign API: stored, shown, checked like the main
template, and refused with a 422 naming the field when malformed."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from herald.kit.db import Database
from tests.campaigns.conftest import BASE, create, error_fields
from tests.conftest import OrgHandle
from tests.factories import World, make_template

TEXT_B = {"1": {"source": "contact_name", "fallback": "friend"}, "2": {"source": "text", "value": "30% off"}}


def _variants(world: World, *shares: float | None) -> list[dict[str, Any]]:
    base = world.campaign()["variables"]
    bound = [base, TEXT_B, {**TEXT_B, "2": {"source": "text", "value": "free delivery"}},
             {**TEXT_B, "2": {"source": "text", "value": "gift"}}]
    return [{"variables": bound[i], **({} if share is None else {"share": share})} for i, share in enumerate(shares)]


async def test_a_holdout_and_variants_are_stored_and_shown(
    client: httpx.AsyncClient, org: OrgHandle, world: World
) -> None:
    campaign = await create(client, org, world.campaign(holdout_percent=10, variants=_variants(world, 60, 40)))

    assert campaign["status"] == "ready"
    assert campaign["holdout_percent"] == 10
    assert campaign["experiment_seed"] is not None
    assert [(v["name"], v["share"], v["template"]) for v in campaign["variants"]] == [("A", 60, None), ("B", 40, None)]
    assert campaign["variants"][1]["variables"]["2"] == {"source": "text", "value": "30% off"}
    shown = (await client.get(f"{BASE}/{campaign['id']}", headers=org.auth)).json()
    assert shown["variants"] == campaign["variants"]


async def test_variants_without_shares_split_evenly(client: httpx.AsyncClient, org: OrgHandle, world: World) -> None:
    campaign = await create(client, org, world.campaign(variants=_variants(world, None, None, None)))

    assert [v["share"] for v in campaign["variants"]] == [33.33, 33.33, 33.33]


async def test_an_empty_list_clears_the_variants(client: httpx.AsyncClient, org: OrgHandle, world: World) -> None:
    campaign = await create(client, org, world.campaign(variants=_variants(world, None, None)))

    response = await client.patch(f"{BASE}/{campaign['id']}", json={"variants": []}, headers=org.auth)

    assert response.json()["variants"] is None


@pytest.mark.parametrize(("body", "field"), [
    ({"holdout_percent": 51}, "holdout_percent"),
    ({"holdout_percent": -1}, "holdout_percent"),
    ({"variants": "one"}, "variants"),
])
async def test_out_of_bounds_holdout_is_refused_naming_the_field(
    client: httpx.AsyncClient, org: OrgHandle, world: World, body: dict[str, Any], field: str
) -> None:
    response = await client.post(BASE, json=world.campaign(**body), headers=org.auth)

    assert response.status_code == 422
    assert field in error_fields(response)


@pytest.mark.parametrize("shares", [(50,), (20, 20, 20, 20, 20), (50, 40), (50, None)])
async def test_malformed_variants_are_refused_naming_the_field(
    client: httpx.AsyncClient, org: OrgHandle, world: World, shares: tuple[float | None, ...]
) -> None:
    variants = [{"variables": TEXT_B, **({} if s is None else {"share": s})} for s in shares]
    response = await client.post(BASE, json=world.campaign(variants=variants), headers=org.auth)

    assert response.status_code == 422, response.text
    assert error_fields(response) == ["variants"]


async def test_each_variant_is_checked_like_the_main_template(
    client: httpx.AsyncClient, org: OrgHandle, world: World, database: Database
) -> None:
    await make_template(database, org_id=org.id, name="plain", variables=["1"], header_format="TEXT")
    unbound = [{"variables": TEXT_B}, {"template": {"name": "plain", "language": "en_US"}, "variables": {}}]
    draft = await create(client, org, world.campaign(variants=unbound))

    assert draft["status"] == "draft"
    assert draft["missing"] == ["variants.1.variables.1"]

    extra = [{"variables": TEXT_B}, {"variables": {**TEXT_B, "7": {"source": "text", "value": "x"}}}]
    response = await client.post(BASE, json=world.campaign(variants=extra), headers=org.auth)
    assert response.status_code == 422
    assert error_fields(response) == ["variants.1.variables.7"]

    unknown = [{"variables": TEXT_B}, {"template": {"name": "nope", "language": "en_US"}, "variables": {}}]
    response = await client.post(BASE, json=world.campaign(variants=unknown), headers=org.auth)
    assert error_fields(response) == ["variants.1.template"]


async def test_a_running_campaign_cannot_change_its_holdout(
    client: httpx.AsyncClient, org: OrgHandle, world: World
) -> None:
    campaign = await create(client, org, world.campaign(holdout_percent=10))
    started = await client.post(f"{BASE}/{campaign['id']}/start", json={"rate_per_second": 1}, headers=org.auth)
    assert started.status_code == 200, started.text

    response = await client.patch(f"{BASE}/{campaign['id']}", json={"holdout_percent": 20}, headers=org.auth)

    assert response.status_code == 409
