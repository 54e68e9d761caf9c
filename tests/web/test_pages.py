"""The pages on the domain services: the wizard end to end over HTTP, scheduling, contacts, numbers, live stats."""

from __future__ import annotations

import asyncio
import json
from datetime import date, timedelta

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from herald.auth.principal import Role
from herald.config import Settings
from herald.kit.db import Database
from herald.models import BotFlow, Campaign, Contact, Template
from herald.simulator import Scenario, SimulatorServer
from tests.conftest import OrgHandle
from tests.factories import (
    engage,
    graph_template,
    make_active_campaign,
    make_bot_flow,
    make_contacts,
    make_number,
    make_template,
)
from tests.live import live_server
from tests.web.conftest import Browser
from tests.web.helpers import csrf_of, log_in, make_user, page_csrf

WELCOME_VARS = ["1", "2"]


async def setup_org(app: FastAPI, database: Database, org_id: int) -> tuple[int, int]:
    box = app.state.secret_box
    number = await make_number(database, box, org_id=org_id, base_url="http://127.0.0.1:9")
    await make_template(database, org_id=org_id, name="welcome", variables=WELCOME_VARS, header_format=None)
    bot = await make_bot_flow(database, box, org_id=org_id)
    await make_contacts(database, org_id=org_id, specs=[
        {"phone": "+14155552000", "name": "Ada", "tags": ["vip"], "valued_tags": {"customer_id": "7"}},
        {"phone": "+14155552001", "name": "Bob", "tags": ["vip"]},
        {"phone": "+14155552002", "name": "Cy", "tags": ["vip"], "opted_out": True},
    ])
    return number, bot


async def campaign(database: Database, campaign_id: int) -> Campaign:
    async with database.read_session() as session:
        return (await session.execute(select(Campaign).where(Campaign.id == campaign_id))).scalar_one()


class TestWizard:
    async def test_steps_save_a_draft_that_becomes_ready(self, app: FastAPI, browser: Browser, database: Database,
                                                         org: OrgHandle) -> None:
        number, bot = await setup_org(app, database, org.id)
        editor = await browser(Role.editor)
        token = await page_csrf(editor, "/ui/campaigns/new")
        created = await editor.post("/ui/campaigns/new", data={"csrf_token": token, "name": "Spring",
                                                               "whatsapp_number_id": str(number)})
        assert created.status_code == 303
        campaign_id = int(created.headers["location"].split("/")[3])
        assert (await campaign(database, campaign_id)).status == "draft"

        counts = await editor.post(f"/ui/campaigns/{campaign_id}/audience-preview",
                                   data={"csrf_token": token, "tags_any": "vip"})
        assert 'id="matched-count">3<' in counts.text and 'id="eligible-count">2<' in counts.text
        await editor.post(f"/ui/campaigns/{campaign_id}/edit/audience", data={"csrf_token": token, "tags_any": "vip"})

        preview = await editor.post(f"/ui/campaigns/{campaign_id}/message-preview", data={
            "csrf_token": token, "template": "welcome|en_US", "var_1_source": "contact_name",
            "var_2_source": "valued_tag", "var_2_key": "customer_id"})
        assert "Hi <span" in preview.text and ">Ada</span>" in preview.text and ">7</span>" in preview.text
        assert "1 contact lacks the valued tag “customer_id”" in preview.text and "Bob · +14155552001" in preview.text
        saved = await editor.post(f"/ui/campaigns/{campaign_id}/edit/message", data={
            "csrf_token": token, "template": "welcome|en_US", "positions": "1,2", "var_1_source": "contact_name",
            "var_2_source": "valued_tag", "var_2_key": "customer_id"})
        assert saved.headers["location"].endswith("/edit/bot")
        review = await editor.get(f"/ui/campaigns/{campaign_id}/edit/review")
        assert "Missing before it can launch" in review.text and "Bot flow" in review.text
        await editor.post(f"/ui/campaigns/{campaign_id}/edit/bot", data={"csrf_token": token, "bot_flow_id": str(bot)})
        done = await editor.post(f"/ui/campaigns/{campaign_id}/edit/review", data={"csrf_token": token})
        assert done.status_code == 303 and "Ready%20to%20Launch" in done.headers["set-cookie"]
        stored = await campaign(database, campaign_id)
        assert stored.status == "ready" and stored.variables == {
            "1": {"source": "contact_name"}, "2": {"source": "valued_tag", "key": "customer_id"}}

    async def test_domain_errors_show_next_to_the_field(self, app: FastAPI, browser: Browser, database: Database,
                                                        org: OrgHandle) -> None:
        await setup_org(app, database, org.id)
        editor = await browser(Role.editor)
        token = await page_csrf(editor, "/ui/campaigns/new")
        answer = await editor.post("/ui/campaigns/new", data={"csrf_token": token, "name": "X",
                                                              "whatsapp_number_id": "999"})
        assert answer.status_code == 422 and 'id="whatsapp_number_id-error"' in answer.text
        assert "No such WhatsApp number" in answer.text

    async def test_test_send_names_phones_that_are_not_contacts(self, app: FastAPI, browser: Browser,
                                                                database: Database, org: OrgHandle) -> None:
        await setup_org(app, database, org.id)
        async with database.session() as session:
            row = Campaign(org_id=org.id, name="Draft", status="draft", kind="real", missing=["audience"])
            session.add(row)
            await session.flush()
            campaign_id = row.id
        editor = await browser(Role.editor)
        token = await page_csrf(editor)
        answer = await editor.post(f"/ui/campaigns/{campaign_id}/test", data={"csrf_token": token,
                                                                              "phones": "+14155550111"})
        assert answer.status_code == 422 and 'id="phones-error"' in answer.text

    async def test_overlap_warning_names_the_engaging_campaign(self, app: FastAPI, browser: Browser,
                                                               database: Database, org: OrgHandle) -> None:
        number, bot = await setup_org(app, database, org.id)
        running = await make_active_campaign(database, org_id=org.id, number_id=number, audience={"tags_any": ["vip"]},
                                             variables={}, media_row_id=None, bot_flow_id=bot, name="Winter",
                                             template="welcome")
        async with database.read_session() as session:
            ada = (await session.execute(select(Contact.id).where(Contact.phone == "+14155552000"))).scalar_one()
        await engage(database, contact_id=ada, campaign_id=running)
        editor = await browser(Role.editor)
        token = await page_csrf(editor, "/ui/campaigns/new")
        created = await editor.post("/ui/campaigns/new", data={"csrf_token": token, "name": "Spring",
                                                               "whatsapp_number_id": str(number)})
        campaign_id = int(created.headers["location"].split("/")[3])
        counts = await editor.post(f"/ui/campaigns/{campaign_id}/audience-preview",
                                   data={"csrf_token": token, "tags_any": "vip"})
        assert 'id="overlap-warning"' in counts.text and "1 of these contacts are in active campaign" in counts.text
        assert "Winter" in counts.text


class TestSchedule:
    async def test_estimate_and_refusal_of_a_past_start(self, app: FastAPI, browser: Browser, database: Database,
                                                        org: OrgHandle) -> None:
        number, bot = await setup_org(app, database, org.id)
        async with database.session() as session:
            row = Campaign(org_id=org.id, name="S", status="ready", kind="real", missing=[], whatsapp_number_id=number,
                           audience={"tags_any": ["vip"]}, template_name="welcome", template_language="en_US",
                           variables={"1": {"source": "contact_name"}, "2": {"source": "text", "value": "x"}},
                           bot_flow_id=bot)
            session.add(row)
            await session.flush()
            campaign_id = row.id
        editor = await browser(Role.editor)
        tomorrow = (date.today() + timedelta(days=1)).isoformat()
        estimate = await editor.get(f"/ui/campaigns/{campaign_id}/schedule/estimate",
                                    params={"day": tomorrow, "clock": "09:00", "timezone": "Europe/Paris",
                                            "rate_per_hour": "1"})
        assert "2 eligible contacts at 1/hour: about 2 hours" in estimate.text and f"{tomorrow} 11:00" in estimate.text
        token = await page_csrf(editor, f"/ui/campaigns/{campaign_id}/schedule")
        past = await editor.post(f"/ui/campaigns/{campaign_id}/schedule", data={
            "csrf_token": token, "day": "2020-01-01", "clock": "09:00", "timezone": "UTC", "rate_per_hour": "100"})
        assert past.status_code == 422 and "The start time has passed" in past.text and "start_at is" not in past.text
        ok = await editor.post(f"/ui/campaigns/{campaign_id}/schedule", data={
            "csrf_token": token, "day": tomorrow, "clock": "09:00", "timezone": "Europe/Paris", "rate_per_hour": "100"})
        assert ok.status_code == 303
        stored = await campaign(database, campaign_id)
        assert stored.status == "scheduled" and stored.rate_per_hour == 100


class TestContacts:
    async def test_import_shows_the_rejected_lines(self, browser: Browser) -> None:
        editor = await browser(Role.editor)
        token = await page_csrf(editor, "/ui/contacts")
        body = "phone,name,tags,vt:customer_id\n+14155552100,Ada,vip,7\nnope,Bad,vip,\n"
        answer = await editor.post("/ui/contacts/import", files={"file": ("c.csv", body, "text/csv")},
                                   headers={"X-CSRF-Token": token})
        assert answer.status_code == 200 and "Imported <strong>1</strong> new" in answer.text
        assert "<td class=\"num\">3</td>" in answer.text
        listing = await editor.get("/ui/contacts", params={"tag": "vip", "q": "Ada"})
        assert "+14155552100" in listing.text

    async def test_edit_tags_valued_tags_and_cases(self, browser: Browser, database: Database, org: OrgHandle) -> None:
        (contact_id,) = await make_contacts(database, org_id=org.id, specs=[
            {"phone": "+14155552200", "name": "Ada", "tags": ["vip"], "valued_tags": {"a": "1", "b": "2"}}])
        editor = await browser(Role.editor)
        token = await page_csrf(editor, f"/ui/contacts/{contact_id}")
        await editor.post(f"/ui/contacts/{contact_id}", data={"csrf_token": token, "name": "Ada L",
                                                              "tags": "vip, gold", "valued_tags": "a=9\nc=3"})
        page = await editor.get(f"/ui/contacts/{contact_id}")
        assert 'value="gold, vip"' in page.text and "a=9\nc=3" in page.text and "b=2" not in page.text
        opened = await editor.post(f"/ui/contacts/{contact_id}/cases", data={"csrf_token": token, "subject": "refund"})
        assert opened.status_code == 303
        page = await editor.get(f"/ui/contacts/{contact_id}")
        assert "refund" in page.text and "Close case" in page.text and "Open a case" not in page.text
        case_id = int(page.text.split(f"/ui/contacts/{contact_id}/cases/")[1].split("/")[0])
        await editor.post(f"/ui/contacts/{contact_id}/cases/{case_id}/close", data={"csrf_token": token})
        assert "Open a case" in (await editor.get(f"/ui/contacts/{contact_id}")).text


class TestSecrets:
    async def test_number_and_bot_flow_secrets_are_write_only(self, app: FastAPI, browser: Browser,
                                                              database: Database, org: OrgHandle) -> None:
        box = app.state.secret_box
        number = await make_number(database, box, org_id=org.id, base_url="http://127.0.0.1:9", token="tok-SECRET")
        bot = await make_bot_flow(database, box, org_id=org.id, secret="bot-SECRET")
        admin = await browser(Role.admin)
        for path in ("/ui/numbers", f"/ui/numbers?edit={number}", "/ui/bot-flows", f"/ui/bot-flows?edit={bot}"):
            html = (await admin.get(path)).text
            assert "SECRET" not in html, path
        token = await page_csrf(admin, "/ui/bot-flows")
        saved = await admin.post(f"/ui/bot-flows/{bot}", data={"csrf_token": token, "name": "renamed", "secret": ""})
        assert saved.status_code == 303
        async with database.read_session() as session:
            stored = await session.get(BotFlow, bot)
            assert stored is not None and box.decrypt(stored.secret_enc) == "bot-SECRET"
        bad = await admin.post("/ui/bot-flows", data={"csrf_token": token, "name": "b", "webhook_url": "ftp://x",
                                                      "secret": "s"})
        assert bad.status_code == 422 and 'id="webhook_url-error"' in bad.text


@pytest.mark.slow
class TestWhatsAppCallsHoldNoLock:
    async def test_other_writers_go_on_while_a_template_sync_waits_for_whatsapp(
        self, app: FastAPI, browser: Browser, database: Database, org: OrgHandle
    ) -> None:
        # WhatsApp takes 1.5 s to answer; on SQLite a transaction kept open across that call would hold
        # the database's write lock, and webhooks, the worker and every other writer would wait behind it.
        slow = Scenario.model_validate({"templates": [graph_template("welcome")], "latency_ms": 1500,
                                        "webhooks_enabled": False})
        with SimulatorServer(slow) as sim:
            number = await make_number(database, app.state.secret_box, org_id=org.id, base_url=sim.base_url)
            editor = await browser(Role.editor)
            token = await page_csrf(editor, "/ui/templates")
            sync = asyncio.create_task(editor.post("/ui/templates/sync", data={
                "csrf_token": token, "whatsapp_number_id": str(number)}))
            await asyncio.sleep(0.3)  # the request is now waiting for the simulator
            await make_contacts(database, org_id=org.id, specs=[{"phone": "+14155552099", "name": "Written"}])
            assert not sync.done(), "the write should not have had to wait for WhatsApp's answer"
            answer = await sync
        assert answer.status_code == 303 and "Synced%201%20templates" in answer.headers["set-cookie"]
        async with database.read_session() as session:
            names = (await session.execute(select(Template.name).where(Template.org_id == org.id))).scalars().all()
        assert names == ["welcome"]


@pytest.mark.server
class TestLiveStats:
    async def test_ui_session_gets_stats_events_and_the_csv(self, settings: Settings, database: Database,
                                                            org: OrgHandle) -> None:
        async with database.session() as session:
            row = Campaign(org_id=org.id, name="Live", status="active", kind="real", missing=[])
            session.add(row)
            await session.flush()
            campaign_id = row.id
        email = await make_user(database, org_id=org.id, role=Role.viewer)
        with live_server(settings) as url:
            async with httpx.AsyncClient(base_url=url, timeout=10) as client:
                assert (await log_in(client, email)).status_code == 303
                page = await client.get(f"/ui/campaigns/{campaign_id}/stats")
                assert page.status_code == 200 and 'data-stat="sent"' in page.text and "Pause" not in page.text
                csrf_of(page.text)
                events: dict[str, str] = {}
                async with client.stream("GET", f"/ui/campaigns/{campaign_id}/events") as stream:
                    assert stream.headers["content-type"].startswith("text/event-stream")
                    name = ""
                    async for line in stream.aiter_lines():
                        if line.startswith("event:"):
                            name = line.split(":", 1)[1].strip()
                        elif line.startswith("data:") and name:
                            events[name] = line.split(":", 1)[1].strip()
                        if {"stats", "campaign", "sends"} <= set(events):
                            break
                assert json.loads(events["stats"])["targeted"] == 0
                assert json.loads(events["campaign"])["status"] == "active"
                report = await client.get(f"/ui/campaigns/{campaign_id}/report.csv")
                assert report.status_code == 200 and report.text.startswith("contact_id,phone,name,status")
                anonymous = await httpx.AsyncClient(base_url=url).get(f"/ui/campaigns/{campaign_id}/events",
                                                                      follow_redirects=False)
                assert anonymous.status_code == 303
