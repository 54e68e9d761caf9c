"""Tenant isolation over the whole route table: another organization's ids are never found.

The walker visits every ``/api/v1`` route with an ``{…_id}`` path parameter, calls it as org A with
org B's ids (with a body that would be valid for A's own resource), and expects 404 in the error
shape without any of B's data; B's resources must be unchanged afterwards. A route with an id
parameter the walker does not know fails the test, so new routes get covered when they are added.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts
from sqlalchemy import select

from herald.api import API_PREFIX
from herald.kit.db import Database
from herald.models import InboxCase
from tests.conftest import OrgHandle
from tests.factories import (
    fr_mobile,
    make_active_campaign,
    make_bot_flow,
    make_contacts,
    make_media,
    make_number,
    make_template,
)

# Distinctive strings of B: none may show up in an answer to A.
B_CONTACT_NAME = "Globex-private-contact-Zq81"
B_MEDIA_ID = "globex-media-Zq81"
B_TEMPLATE = "globex_template_zq81"
SIM = "http://127.0.0.1:9"
ID_PARAMETER = re.compile(r"\{(\w*id)\}")

BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("PATCH", "/whatsapp-numbers/{number_id}"): {"display_phone_number": "+1 555 999 9999"},
    ("PATCH", "/bot-flows/{bot_flow_id}"): {"name": "taken over"},
    ("PATCH", "/contacts/{contact_id}"): {"name": "taken over", "tags": ["pwned"]},
    ("PATCH", "/campaigns/{campaign_id}"): {"name": "taken over"},
    ("POST", "/campaigns/{campaign_id}/start"): {"rate_per_second": 1},
    ("POST", "/campaigns/{campaign_id}/schedule"): {"start_at": "2031-01-01T10:00:00+00:00", "rate_per_hour": 10},
    ("POST", "/campaigns/{campaign_id}/test"): {"phones": [fr_mobile(1)]},
    ("POST", "/campaigns/{campaign_id}/funnel-events"): {"phone": fr_mobile(1), "step": "checkout"},
    ("POST", "/campaigns/{campaign_id}/follow-ups"): {"outcome": "read_not_replied"},
    ("PATCH", "/event-endpoints/{endpoint_id}"): {"description": "taken over", "event_types": ["message.read"]},
    ("PATCH", "/users/{user_id}"): {"role": "viewer", "active": False, "password": "taken over"},
}
MULTIPART = {("POST", "/whatsapp-numbers/{number_id}/media")}
# GET routes whose resource exists only for some of their parent's kind: the owner's answer may be this
# 404 code instead of 200 (it still says the parent was found: another organization gets "not found").
OWNER_MAY_LACK = {"/campaigns/{campaign_id}/audience-snapshot": "no_audience_snapshot"}  # not a follow-up


@dataclass
class Victim:
    org: OrgHandle
    ids: dict[str, list[int]]


def id_routes(app: FastAPI) -> list[tuple[str, str, str]]:
    """(method, path without the prefix, id parameter) of every API route taking an id in its path."""
    found = []
    for route in iter_route_contexts(app.routes):
        if not isinstance(route.original_route, APIRoute) or not route.path.startswith(API_PREFIX + "/"):
            continue
        params = ID_PARAMETER.findall(route.path)
        if not params:
            continue
        assert len(params) == 1, route.path
        for method in sorted(route.methods or ()):
            found.append((method, route.path[len(API_PREFIX):], params[0]))
    return found


@pytest.fixture
async def victim(app: FastAPI, client: httpx.AsyncClient, database: Database, other_org: OrgHandle) -> Victim:
    """One resource of each kind in org B (two campaigns: one ready, one active)."""
    box, b = app.state.secret_box, other_org.id
    number = await make_number(database, box, org_id=b, base_url=SIM)
    template = await make_template(database, org_id=b, name=B_TEMPLATE)
    media = await make_media(database, org_id=b, number_id=number, media_id=B_MEDIA_ID)
    bot_flow = await make_bot_flow(database, box, org_id=b)
    [contact] = await make_contacts(database, org_id=b, specs=[
        {"phone": fr_mobile(1), "name": B_CONTACT_NAME, "tags": ["vip"], "valued_tags": {"plan": "pro"},
         "open_case": True},
    ])
    async with database.read_session() as session:
        case = (await session.execute(select(InboxCase.id).where(InboxCase.org_id == b))).scalar_one()
    common = {"org_id": b, "number_id": number, "audience": {"tags_any": ["vip"]}, "media_row_id": media,
              "bot_flow_id": bot_flow, "template": B_TEMPLATE,
              "variables": {str(i): {"source": "text", "value": "x"} for i in (1, 2, 3)}}
    ready = await make_active_campaign(database, **common, status="ready", name="Globex ready")
    active = await make_active_campaign(database, **common, status="active", name="Globex active")
    keys = (await client.get("/api/v1/api-keys", headers=other_org.auth)).json()
    endpoint = await client.post("/api/v1/event-endpoints", headers=other_org.auth, json={
        "url": "https://globex.example.com/events", "secret": "globex-secret-zq81", "event_types": ["message.sent"]})
    user = await client.post("/api/v1/users", headers=other_org.auth,
                             json={"email": "editor@globex.test", "password": "globex password", "role": "editor"})
    return Victim(other_org, {
        "user_id": [user.json()["id"]],
        "number_id": [number], "template_id": [template], "media_row_id": [media], "bot_flow_id": [bot_flow],
        "contact_id": [contact], "case_id": [case], "campaign_id": [ready, active],
        "api_key_id": [k["id"] for k in keys], "endpoint_id": [endpoint.json()["id"]],
    })


async def snapshot(client: httpx.AsyncClient, victim: Victim) -> dict[str, Any]:
    """What B sees of its own resources (API keys: whether each is revoked)."""
    ids, auth = victim.ids, victim.org.auth
    paths = [f"/api/v1/whatsapp-numbers/{ids['number_id'][0]}", f"/api/v1/templates/{ids['template_id'][0]}",
             f"/api/v1/media/{ids['media_row_id'][0]}", f"/api/v1/bot-flows/{ids['bot_flow_id'][0]}",
             f"/api/v1/contacts/{ids['contact_id'][0]}", f"/api/v1/cases/{ids['case_id'][0]}",
             f"/api/v1/event-endpoints/{ids['endpoint_id'][0]}",
             "/api/v1/campaigns?limit=100", "/api/v1/contacts?limit=100"]
    paths += [f"/api/v1/campaigns/{c}" for c in ids["campaign_id"]]
    paths += [f"/api/v1/campaigns/{c}/stats" for c in ids["campaign_id"]]
    seen: dict[str, Any] = {}
    for path in paths:
        response = await client.get(path, headers=auth)
        seen[path] = (response.status_code, response.json())
    keys = (await client.get("/api/v1/api-keys", headers=auth)).json()
    seen["api-keys"] = sorted((k["id"], k["revoked_at"]) for k in keys)
    seen["users"] = (await client.get("/api/v1/users", headers=auth)).json()
    return seen


async def call(
    client: httpx.AsyncClient, method: str, template: str, path: str, auth: dict[str, str]
) -> httpx.Response:
    """``path`` (``template`` filled in) with the body that would be valid for the caller's own resource."""
    url = API_PREFIX + path
    if (method, template) in MULTIPART:
        return await client.request(method, url, files={"file": ("x.png", b"\x89PNG", "image/png")}, headers=auth)
    return await client.request(method, url, json=BODIES.get((method, template)), headers=auth)


class TestTenantIsolation:
    @pytest.mark.slow
    async def test_every_id_route_answers_404_to_another_orgs_ids(
        self, app: FastAPI, client: httpx.AsyncClient, org: OrgHandle, victim: Victim
    ) -> None:
        routes = id_routes(app)
        assert len(routes) >= 30
        before = await snapshot(client, victim)
        failures = []
        for method, template, param in routes:
            assert param in victim.ids, f"the walker has no {param} resource for {method} {template}"
            for resource_id in victim.ids[param]:
                path = template.replace("{" + param + "}", str(resource_id))
                response = await call(client, method, template, path, org.auth)
                body = response.text
                if response.status_code != 404 or B_CONTACT_NAME in body or B_MEDIA_ID in body or B_TEMPLATE in body:
                    failures.append(f"{method} {path}: {response.status_code} {body[:200]}")
                elif set(response.json()["error"]) != {"code", "message", "details"}:
                    failures.append(f"{method} {path}: not the error shape: {body[:200]}")
        assert failures == []
        assert await snapshot(client, victim) == before

    async def test_the_ids_walked_are_real_the_owner_reads_them(
        self, app: FastAPI, client: httpx.AsyncClient, victim: Victim
    ) -> None:
        for method, template, param in id_routes(app):
            if method != "GET" or template.endswith("/events"):  # a live stream: it would not end
                continue
            for resource_id in victim.ids[param]:
                path = template.replace("{" + param + "}", str(resource_id))
                response = await call(client, method, template, path, victim.org.auth)
                if template in OWNER_MAY_LACK and response.status_code == 404:
                    assert response.json()["error"]["code"] == OWNER_MAY_LACK[template], (path, response.text)
                    continue
                assert response.status_code == 200, (path, response.text)

    async def test_another_orgs_ids_in_bodies_and_queries_are_not_found(
        self, client: httpx.AsyncClient, org: OrgHandle, victim: Victim
    ) -> None:
        ids = victim.ids
        before = await snapshot(client, victim)
        campaign = await client.post("/api/v1/campaigns", headers=org.auth, json={
            "name": "borrowing", "whatsapp_number_id": ids["number_id"][0], "bot_flow_id": ids["bot_flow_id"][0],
            "header_media_id": ids["media_row_id"][0], "audience": {"tags_any": ["vip"]},
            "template": {"name": B_TEMPLATE, "language": "en_US"},
        })
        if campaign.status_code == 201:  # saved as a draft, never pointing at B's resources
            created = campaign.json()
            assert created["status"] == "draft"
            assert created.get("whatsapp_number_id") in (None,) or "whatsapp_number_id" in created["missing"]
        else:
            assert campaign.status_code in (404, 422), campaign.text
        answers = [
            await client.post("/api/v1/cases", json={"contact_id": ids["contact_id"][0]}, headers=org.auth),
            await client.post("/api/v1/messages", headers=org.auth,
                              json={"whatsapp_number_id": ids["number_id"][0], "to": fr_mobile(1), "text": "hi"}),
        ]
        for response in answers:
            assert response.status_code in (404, 422), response.text
            assert B_CONTACT_NAME not in response.text
        listed = [
            await client.get(f"/api/v1/templates?whatsapp_number_id={ids['number_id'][0]}", headers=org.auth),
            await client.get(f"/api/v1/media?whatsapp_number_id={ids['number_id'][0]}", headers=org.auth),
            await client.get("/api/v1/contacts?tag=vip", headers=org.auth),
            await client.get("/api/v1/bot-deliveries", headers=org.auth),
        ]
        for response in listed:
            assert response.status_code in (200, 404, 422), response.text
            assert B_TEMPLATE not in response.text and B_MEDIA_ID not in response.text
            assert B_CONTACT_NAME not in response.text
        preview = await client.post("/api/v1/campaigns/audience-preview", headers=org.auth,
                                    json={"audience": {"tags_any": ["vip"]}})
        if preview.status_code == 200:
            assert preview.json()["matched"] == 0
        assert await snapshot(client, victim) == before
