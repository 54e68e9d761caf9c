"""The quality circuit breaker through the campaign API: thresholds with defaults, set on create and
patch (also while the campaign runs), refused with the field named, copied by Duplicate, and the
gauges in the stats."""

from __future__ import annotations

import httpx
import pytest

from herald.kit.db import Database
from herald.models import Campaign
from herald.quality.breaker import DEFAULTS
from tests.campaigns.conftest import BASE, act, create, error_fields
from tests.conftest import OrgHandle
from tests.factories import World, make_contacts, make_world


@pytest.fixture
async def world(database: Database, org: OrgHandle) -> World:
    return await make_world(database, org.id)


class TestSettings:
    async def test_a_new_campaign_has_the_defaults(self, client: httpx.AsyncClient, org: OrgHandle, world: World) -> None:
        campaign = await create(client, org, world.campaign())
        assert campaign["breaker"] == {"enabled": True, "window": 200, "min_sends": 50, "failure_rate": 10.0,
                                       "opt_out_rate": 2.0, "block_signals": 20, "number_quality": True,
                                       "template_quality": True}

    async def test_set_on_create_missing_keys_take_the_defaults_and_null_turns_a_rule_off(
        self, client: httpx.AsyncClient, org: OrgHandle, world: World
    ) -> None:
        campaign = await create(client, org, {**world.campaign(), "breaker": {"failure_rate": 5, "opt_out_rate": None}})
        assert campaign["breaker"]["failure_rate"] == 5
        assert campaign["breaker"]["opt_out_rate"] is None
        assert campaign["breaker"]["window"] == DEFAULTS.window

    @pytest.mark.parametrize(("breaker", "field"), [
        ({"failure_rate": 0}, "breaker.failure_rate"),
        ({"failure_rate": 101}, "breaker.failure_rate"),
        ({"opt_out_rate": "lots"}, "breaker.opt_out_rate"),
        ({"block_signals": 0}, "breaker.block_signals"),
        ({"window": 5}, "breaker.window"),
        ({"window": 40, "min_sends": 50}, "breaker"),
        ({"thresholds": 3}, "breaker.thresholds"),
    ])
    async def test_bad_values_are_a_422_naming_the_field(
        self, client: httpx.AsyncClient, org: OrgHandle, world: World, breaker: dict[str, object], field: str
    ) -> None:
        answer = await client.post(BASE, json={**world.campaign(), "breaker": breaker}, headers=org.auth)
        assert answer.status_code == 422, answer.text
        assert field in error_fields(answer)

    async def test_changed_while_paused_and_copied_by_duplicate(
        self, client: httpx.AsyncClient, database: Database, org: OrgHandle, world: World
    ) -> None:
        await make_contacts(database, org_id=org.id, specs=[
            {"phone": "+14155550101", "tags": ["vip"], "valued_tags": {"customer_id": "1"}}])
        campaign = await create(client, org, world.campaign())
        assert (await act(client, org, campaign["id"], "start")).status_code == 200
        assert (await act(client, org, campaign["id"], "pause")).status_code == 200
        # A manager raises a threshold before resuming a campaign the breaker paused.
        patched = await client.patch(f"{BASE}/{campaign['id']}", headers=org.auth,
                                     json={"breaker": {"failure_rate": 25, "block_signals": None}})
        assert patched.status_code == 200, patched.text
        assert (patched.json()["breaker"]["failure_rate"], patched.json()["breaker"]["block_signals"]) == (25, None)

        copy = await act(client, org, campaign["id"], "duplicate")
        assert copy.status_code == 201, copy.text
        assert copy.json()["breaker"] == patched.json()["breaker"]

    async def test_the_defaults_are_stored_as_null(
        self, client: httpx.AsyncClient, database: Database, org: OrgHandle, world: World
    ) -> None:
        """So a campaign that kept the defaults follows them if a later Herald changes them."""
        campaign = await create(client, org, {**world.campaign(), "breaker": {}})
        async with database.read_session() as session:
            row = await session.get(Campaign, campaign["id"])
            assert row is not None and row.breaker is None


class TestStats:
    async def test_the_stats_carry_the_gauges_against_their_thresholds(
        self, client: httpx.AsyncClient, org: OrgHandle, world: World
    ) -> None:
        campaign = await create(client, org, {**world.campaign(), "breaker": {"block_signals": 7}})
        body = (await client.get(f"{BASE}/{campaign['id']}/stats", headers=org.auth)).json()
        breaker = body["breaker"]
        assert (breaker["enabled"], breaker["window"], breaker["min_sends"], breaker["window_sends"]) == (
            True, 200, 50, 0)
        assert [(g["rule"], g["threshold"], g["unit"], g["judged"], g["tripped"]) for g in breaker["gauges"]] == [
            ("failure_rate", 10.0, "%", False, False), ("opt_out_rate", 2.0, "%", False, False),
            ("block_signals", 7.0, "count", True, False)]
