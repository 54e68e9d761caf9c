from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from herald.auth.principal import Role
from herald.kit.db import Database
from herald.kit.errors import Invalid
from herald.models import Template
from herald.simulator import SimulatorServer
from herald.templates import service
from herald.templates.service import TEMPLATE_PAGE_SIZE
from tests.conftest import OrgHandle
from tests.numbers.helpers import (
    ANSWERED,
    ASKED,
    WABA_ID,
    WROTE,
    register_number,
    watch_whatsapp,
    while_whatsapp_answers,
    write_in_another_session,
)

BULK = 2 * TEMPLATE_PAGE_SIZE + 17  # spans three pages of the Graph listing


def template(name: str, body: str, *, language: str = "en_US", status: str = "APPROVED",
             parameter_format: str | None = "POSITIONAL", header: dict[str, Any] | None = None,
             quick_replies: int = 0) -> dict[str, Any]:
    components: list[dict[str, Any]] = [header] if header else []
    components.append({"type": "BODY", "text": body})
    if quick_replies:
        components.append({"type": "BUTTONS", "buttons": [
            {"type": "QUICK_REPLY", "text": f"Option {i}"} for i in range(quick_replies)]})
    raw: dict[str, Any] = {"name": name, "language": language, "status": status, "category": "MARKETING",
                           "components": components}
    if parameter_format:
        raw["parameter_format"] = parameter_format
    return raw


SPECIAL = [
    template("winter_sale", "Hi {{1}}, use {{2}}", header={"type": "HEADER", "format": "IMAGE"}, quick_replies=2),
    template("winter_sale", "Oi {{1}}, use {{2}}", language="pt_BR"),
    template("named_promo", "Hi {{first_name}}", parameter_format="NAMED"),
    template("legacy_named", "Hello {{name}}", parameter_format=None),
    template("legacy_positional", "Hello {{1}}", parameter_format=None),
    template("paused_offer", "Hi {{1}}", status="PAUSED"),
    template("pending_offer", "Hi {{1}}", status="PENDING"),
    template("rejected_offer", "Hi {{1}}", status="REJECTED"),
    template("header_var", "Hi {{1}}", header={"type": "HEADER", "format": "TEXT", "text": "For {{1}}"}),
]
EXPECTED_UNUSABLE = {
    ("named_promo", "en_US"): "named parameters are not supported",
    ("legacy_named", "en_US"): "named parameters are not supported",
    ("paused_offer", "en_US"): "status PAUSED",
    ("pending_offer", "en_US"): "status PENDING",
    ("rejected_offer", "en_US"): "status REJECTED",
    ("header_var", "en_US"): "header text variables are not supported",
}


def catalog(extra: list[dict[str, Any]] | None = None, without: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    bulk = [template(f"bulk_{i:03d}", "Dear {{1}}") for i in range(BULK)]
    return [t for t in SPECIAL + bulk if t["name"] not in without] + (extra or [])


def set_templates(sim: SimulatorServer, templates: list[dict[str, Any]]) -> None:
    sim.update_scenario(templates=templates)


async def sync(client: httpx.AsyncClient, org: OrgHandle, number_id: int) -> httpx.Response:
    return await client.post(f"/api/v1/whatsapp-numbers/{number_id}/sync-templates", headers=org.auth)


async def all_templates(client: httpx.AsyncClient, org: OrgHandle, **params: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        query = {"limit": 100, **params, **({"cursor": cursor} if cursor else {})}
        page = (await client.get("/api/v1/templates", params=query, headers=org.headers(Role.viewer))).json()
        items += page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            return items


class TestSyncTemplates:
    async def test_every_page_is_synced_with_reasons(
        self, client: httpx.AsyncClient, org: OrgHandle, sim: SimulatorServer
    ) -> None:
        set_templates(sim, catalog())
        number = await register_number(client, org, sim.base_url)
        response = await sync(client, org, number["id"])
        assert response.status_code == 200, response.text
        result = response.json()
        assert result["synced"] == len(SPECIAL) + BULK
        assert result["usable"] == result["synced"] - len(EXPECTED_UNUSABLE)
        assert {(u["name"], u["language"]): u["reason"] for u in result["unusable"]} == EXPECTED_UNUSABLE
        assert result["removed"] == []

    async def test_listing_shows_what_a_campaign_needs(
        self, client: httpx.AsyncClient, org: OrgHandle, sim: SimulatorServer
    ) -> None:
        set_templates(sim, catalog())
        number = await register_number(client, org, sim.base_url)
        await sync(client, org, number["id"])
        listed = await all_templates(client, org, whatsapp_number_id=number["id"])
        assert len(listed) == len(SPECIAL) + BULK
        by_key = {(t["name"], t["language"]): t for t in listed}
        sale = by_key[("winter_sale", "en_US")]
        assert sale["variables"] == ["1", "2"] and sale["header_format"] == "IMAGE"
        assert sale["quick_reply_count"] == 2 and sale["usable"] and sale["reason"] is None
        assert sale["body_text"] == "Hi {{1}}, use {{2}}"
        assert sale["status"] == "APPROVED" and sale["category"] == "MARKETING" and sale["waba_id"] == WABA_ID
        assert by_key[("winter_sale", "pt_BR")]["body_text"] == "Oi {{1}}, use {{2}}"
        assert by_key[("legacy_positional", "en_US")]["usable"]
        assert by_key[("legacy_named", "en_US")]["parameter_format"] == "NAMED"
        assert by_key[("paused_offer", "en_US")]["reason"] == "status PAUSED"
        usable_only = await all_templates(client, org, whatsapp_number_id=number["id"], usable="true")
        assert len(usable_only) == len(listed) - len(EXPECTED_UNUSABLE)

    async def test_resync_updates_and_marks_removed_templates(
        self, client: httpx.AsyncClient, org: OrgHandle, sim: SimulatorServer
    ) -> None:
        set_templates(sim, catalog())
        number = await register_number(client, org, sim.base_url)
        await sync(client, org, number["id"])
        approved_again = template("paused_offer", "Hi {{1}}")
        set_templates(sim, catalog(without=("winter_sale", "paused_offer"), extra=[approved_again]))
        result = (await sync(client, org, number["id"])).json()
        assert {(r["name"], r["language"]) for r in result["removed"]} == {
            ("winter_sale", "en_US"), ("winter_sale", "pt_BR")}
        assert result["synced"] == len(SPECIAL) + BULK - 2
        current = {(t["name"], t["language"]): t for t in await all_templates(client, org)}
        assert ("winter_sale", "en_US") not in current
        assert current[("paused_offer", "en_US")]["usable"] is True
        with_removed = await all_templates(client, org, include_removed="true")
        gone = next(t for t in with_removed if (t["name"], t["language"]) == ("winter_sale", "en_US"))
        assert gone["removed_at"] is not None and gone["usable"] is False
        assert gone["reason"] == "no longer in the WhatsApp Business Account"

        set_templates(sim, catalog())
        back = (await sync(client, org, number["id"])).json()
        assert back["removed"] == []
        restored = {(t["name"], t["language"]): t for t in await all_templates(client, org)}
        assert restored[("winter_sale", "en_US")]["usable"] and restored[("winter_sale", "en_US")]["removed_at"] is None

    async def test_whatsapp_refusal_is_a_502(
        self, client: httpx.AsyncClient, org: OrgHandle, sim: SimulatorServer
    ) -> None:
        number = await register_number(client, org, sim.base_url)
        await client.patch(f"/api/v1/whatsapp-numbers/{number['id']}", json={"access_token": "bad"}, headers=org.auth)
        response = await sync(client, org, number["id"])
        assert response.status_code == 502
        assert response.json()["error"]["code"] == "whatsapp_error"

    async def test_tenants_and_roles(
        self, client: httpx.AsyncClient, org: OrgHandle, other_org: OrgHandle, sim: SimulatorServer
    ) -> None:
        set_templates(sim, catalog())
        number = await register_number(client, org, sim.base_url)
        assert (await client.post(f"/api/v1/whatsapp-numbers/{number['id']}/sync-templates",
                                  headers=org.headers(Role.viewer))).status_code == 403
        assert (await sync(client, other_org, number["id"])).status_code == 404
        await sync(client, org, number["id"])
        assert await all_templates(client, other_org) == []
        one = (await all_templates(client, org))[0]
        assert (await client.get(f"/api/v1/templates/{one['id']}", headers=other_org.auth)).status_code == 404
        assert (await client.get(f"/api/v1/templates/{one['id']}", headers=org.auth)).json()["name"] == one["name"]

    async def test_no_transaction_is_open_while_whatsapp_answers(
        self, app: FastAPI, client: httpx.AsyncClient, org: OrgHandle, sim: SimulatorServer, database: Database
    ) -> None:
        set_templates(sim, SPECIAL)
        number = await register_number(client, org, sim.base_url)
        watched = await watch_whatsapp(app, sim)
        response = await while_whatsapp_answers(
            watched, sync(client, org, number["id"]), write_in_another_session(database, watched, org.id)
        )
        assert response.status_code == 200, response.text
        assert response.json()["synced"] == len(SPECIAL)
        assert watched.events == [ASKED, WROTE, ANSWERED]

    async def test_number_deleted_while_whatsapp_answers_is_404_and_nothing_is_kept(
        self, app: FastAPI, client: httpx.AsyncClient, org: OrgHandle, sim: SimulatorServer, database: Database
    ) -> None:
        set_templates(sim, SPECIAL)
        number = await register_number(client, org, sim.base_url)
        watched = await watch_whatsapp(app, sim)

        async def delete() -> None:
            deleted = await client.delete(f"/api/v1/whatsapp-numbers/{number['id']}", headers=org.auth)
            assert deleted.status_code == 204

        response = await while_whatsapp_answers(watched, sync(client, org, number["id"]), delete)
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "whatsapp_number_not_found"
        async with database.session() as session:
            assert await session.scalar(select(func.count()).select_from(Template)) == 0


class TestGetUsableTemplate:
    async def test_usable_unusable_and_unknown(
        self, client: httpx.AsyncClient, org: OrgHandle, other_org: OrgHandle, sim: SimulatorServer,
        database: Database,
    ) -> None:
        set_templates(sim, catalog())
        number = await register_number(client, org, sim.base_url)
        await sync(client, org, number["id"])
        async with database.session() as session:
            found = await service.get_usable_template(
                session, org_id=org.id, waba_id=WABA_ID, name="winter_sale", language="pt_BR")
            assert found.variables == ["1", "2"]
            with pytest.raises(Invalid, match="named parameters are not supported") as unusable:
                await service.get_usable_template(
                    session, org_id=org.id, waba_id=WABA_ID, name="named_promo", language="en_US")
            assert unusable.value.details == [{"field": "template", "message": unusable.value.message}]
            with pytest.raises(Invalid, match="sync the templates first"):
                await service.get_usable_template(
                    session, org_id=org.id, waba_id=WABA_ID, name="winter_sale", language="de")
            with pytest.raises(Invalid, match="sync the templates first"):
                await service.get_usable_template(
                    session, org_id=other_org.id, waba_id=WABA_ID, name="winter_sale", language="pt_BR")

    async def test_status_webhook_changes_usability(
        self, client: httpx.AsyncClient, org: OrgHandle, sim: SimulatorServer, database: Database
    ) -> None:
        set_templates(sim, catalog())
        number = await register_number(client, org, sim.base_url)
        await sync(client, org, number["id"])
        async with database.session() as session:
            changed = await service.apply_template_status(
                session, waba_id=WABA_ID, name="winter_sale", language="en_US", status="PAUSED")
        assert changed == 1
        async with database.session() as session:
            with pytest.raises(Invalid, match="status PAUSED"):
                await service.get_usable_template(
                    session, org_id=org.id, waba_id=WABA_ID, name="winter_sale", language="en_US")
