"""Funnel events reported by bots: idempotent per (campaign, contact, step), counted per step."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest
from fastapi import FastAPI

from herald.auth.principal import Role
from herald.dispatch.materialize import materialize_job
from herald.kit.db import Database
from tests.conftest import OrgHandle
from tests.factories import make_active_campaign, make_bot_flow, make_contacts, make_number

FIRST = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
async def campaign(app: FastAPI, database: Database, org: OrgHandle) -> tuple[int, list[int]]:
    """A materialised campaign to two vip contacts; a third contact is not targeted."""
    box = app.state.secret_box
    number = await make_number(database, box, org_id=org.id, base_url="http://127.0.0.1:9")
    bot = await make_bot_flow(database, box, org_id=org.id)
    ids = await make_contacts(database, org_id=org.id, specs=[
        {"phone": "+14155554001", "tags": ["vip"]}, {"phone": "+14155554002", "tags": ["vip"]},
        {"phone": "+14155554003", "tags": ["other"]},
    ])
    campaign_id = await make_active_campaign(database, org_id=org.id, number_id=number, audience={"tags_any": ["vip"]},
                                             variables={}, media_row_id=None, bot_flow_id=bot)
    await materialize_job(database, {"campaign_id": campaign_id})
    return campaign_id, ids


def path(campaign_id: int) -> str:
    return f"/api/v1/campaigns/{campaign_id}/funnel-events"


class TestFunnelEvents:
    async def test_a_repeat_keeps_the_first_time(
        self, client: httpx.AsyncClient, org: OrgHandle, campaign: tuple[int, list[int]]
    ) -> None:
        campaign_id, ids = campaign
        first = await client.post(path(campaign_id), headers=org.headers(Role.editor),
                                  json={"contact_id": ids[0], "step": "asked_price", "at": FIRST.isoformat()})
        again = await client.post(path(campaign_id), headers=org.headers(Role.editor),
                                  json={"phone": "+1 (415) 555-4001", "step": "asked_price"})
        assert first.status_code == 201 and again.status_code == 200
        assert first.json() == {"campaign_id": campaign_id, "contact_id": ids[0], "step": "asked_price",
                                "at": "2026-03-01T12:00:00Z", "created": True}
        assert again.json()["created"] is False and again.json()["at"] == first.json()["at"]

    async def test_at_defaults_to_now_and_funnel_counts_contacts_per_step(
        self, client: httpx.AsyncClient, database: Database, org: OrgHandle, campaign: tuple[int, list[int]]
    ) -> None:
        campaign_id, ids = campaign
        for contact_id, step in ((ids[0], "asked_price"), (ids[1], "asked_price"), (ids[0], "bought"),
                                 (ids[0], "bought")):
            answer = await client.post(path(campaign_id), headers=org.auth, json={"contact_id": contact_id, "step": step})
            assert answer.status_code in (200, 201)
        funnel = await client.get(f"/api/v1/campaigns/{campaign_id}/funnel", headers=org.headers(Role.viewer))
        assert funnel.json() == {"steps": [{"step": "asked_price", "contacts": 2}, {"step": "bought", "contacts": 1}]}

    async def test_a_contact_the_campaign_did_not_target_is_422_naming_the_field(
        self, client: httpx.AsyncClient, org: OrgHandle, campaign: tuple[int, list[int]]
    ) -> None:
        campaign_id, ids = campaign
        by_id = await client.post(path(campaign_id), headers=org.auth, json={"contact_id": ids[2], "step": "x"})
        by_phone = await client.post(path(campaign_id), headers=org.auth, json={"phone": "+14155559876", "step": "x"})
        both = await client.post(path(campaign_id), headers=org.auth,
                                 json={"phone": "+14155554001", "contact_id": ids[0], "step": "x"})
        assert by_id.status_code == 422 and by_id.json()["error"]["details"][0]["field"] == "contact_id"
        assert by_phone.status_code == 422 and by_phone.json()["error"]["details"][0]["field"] == "phone"
        assert by_id.json()["error"]["code"] == "contact_not_targeted"
        assert both.status_code == 422
        blank = await client.post(path(campaign_id), headers=org.auth, json={"contact_id": ids[0], "step": "  "})
        assert blank.status_code == 422

    async def test_another_orgs_campaign_is_404_and_viewers_cannot_report(
        self, client: httpx.AsyncClient, org: OrgHandle, other_org: OrgHandle, campaign: tuple[int, list[int]]
    ) -> None:
        campaign_id, ids = campaign
        foreign = await client.post(path(campaign_id), headers=other_org.auth, json={"contact_id": ids[0], "step": "x"})
        assert foreign.status_code == 404
        assert (await client.get(f"/api/v1/campaigns/{campaign_id}/funnel", headers=other_org.auth)).status_code == 404
        viewer = await client.post(path(campaign_id), headers=org.headers(Role.viewer),
                                   json={"contact_id": ids[0], "step": "x"})
        assert viewer.status_code == 403
