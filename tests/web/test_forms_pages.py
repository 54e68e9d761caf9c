"""Forms keep what was typed and speak the user's words: a refused contact edit, wizard step or
schedule re-renders with every value as typed and the message next to its field, never a JSON error
page; valued tag keys are picked among those the contacts have."""

from __future__ import annotations

import html
from datetime import date, timedelta

import httpx
from fastapi import FastAPI
from sqlalchemy import update

from herald.auth.principal import Role
from herald.kit.db import Database
from herald.models import Campaign
from tests.conftest import OrgHandle
from tests.factories import make_contacts
from tests.web.conftest import Browser
from tests.web.helpers import csrf_of, page_csrf
from tests.web.test_pages import campaign, setup_org

TYPO = "No contact has a valued tag “custmer_id”. Pick one of the existing keys."


async def ready_campaign(database: Database, org_id: int, number: int, bot: int, **values: object) -> int:
    async with database.session() as session:
        row = Campaign(org_id=org_id, name="Spring", status="ready", kind="real", missing=[], whatsapp_number_id=number,
                       audience={"tags_any": ["vip"]}, template_name="welcome", template_language="en_US",
                       variables={"1": {"source": "contact_name"}, "2": {"source": "text", "value": "x"}},
                       bot_flow_id=bot, **values)
        session.add(row)
        await session.flush()
        return row.id


def unescaped(answer: httpx.Response) -> str:
    return html.unescape(answer.text)


class TestContactForm:
    async def test_a_refused_edit_keeps_every_value_typed_and_says_why_next_to_the_field(
        self, browser: Browser, database: Database, org: OrgHandle
    ) -> None:
        (contact_id,) = await make_contacts(database, org_id=org.id, specs=[
            {"phone": "+14155552200", "name": "Ada", "tags": ["vip"], "valued_tags": {"plan": "gold"}}])
        editor = await browser(Role.editor)
        token = await page_csrf(editor, f"/ui/contacts/{contact_id}")
        typed = {"csrf_token": token, "name": "Ada Lovelace", "tags": "vip, maths", "opted_out": "true",
                 "valued_tags": "plan=platinum\nthis is = not valid"}
        refused = await editor.post(f"/ui/contacts/{contact_id}", data=typed)
        assert refused.status_code == 422
        page = unescaped(refused)
        assert 'value="Ada Lovelace"' in page and 'value="vip, maths"' in page
        assert "plan=platinum\nthis is = not valid" in page and "plan=gold" not in page
        assert 'name="opted_out" value="true" checked' in page
        assert '<p class="field-error" id="valued_tags-error" role="alert">Valued tag key \'this is\' is not valid' in page
        assert 'aria-invalid="true"' in page.split('id="valued_tags"')[1].split(">")[0]

    async def test_a_name_too_long_is_a_message_on_the_page_not_a_json_error(
        self, browser: Browser, database: Database, org: OrgHandle
    ) -> None:
        (contact_id,) = await make_contacts(database, org_id=org.id, specs=[{"phone": "+14155552201", "name": "Bo"}])
        editor = await browser(Role.editor)
        token = await page_csrf(editor, f"/ui/contacts/{contact_id}")
        long_name = "B" * 201
        refused = await editor.post(f"/ui/contacts/{contact_id}", data={"csrf_token": token, "name": long_name})
        assert refused.status_code == 422 and refused.headers["content-type"].startswith("text/html")
        assert f'value="{long_name}"' in refused.text and 'id="name-error"' in refused.text


class TestWizardKeys:
    async def test_the_audience_refuses_an_unknown_key_keeping_the_choices_typed(
        self, app: FastAPI, browser: Browser, database: Database, org: OrgHandle
    ) -> None:
        number, bot = await setup_org(app, database, org.id)
        campaign_id = await ready_campaign(database, org.id, number, bot)
        editor = await browser(Role.editor)
        step = await editor.get(f"/ui/campaigns/{campaign_id}/edit/audience")
        # The keys the contacts have are offered, with how many contacts have each.
        assert '<option value="customer_id" label="1 contact"></option>' in step.text
        assert 'data-picker-search aria-label="Search tags: has any of these tags"' in step.text
        refused = await editor.post(f"/ui/campaigns/{campaign_id}/edit/audience", data={
            "csrf_token": csrf_of(step.text), "tags_all": "vip", "vt_key": ["custmer_id", ""], "vt_value": ["7", ""]})
        assert refused.status_code == 422
        page = unescaped(refused)
        assert f'id="audience-error" role="alert">{TYPO}<' in page
        assert 'name="tags_all" value="vip" checked' in page and 'name="tags_any" value="vip" checked' not in page
        assert 'value="custmer_id"' in page and 'name="vt_value" type="text" list="vt-values-1" maxlength="500" value="7"' in page
        stored = await campaign(database, campaign_id)
        assert stored.audience == {"tags_any": ["vip"]}
        # The live counts say it too, before saving.
        counts = await editor.post(f"/ui/campaigns/{campaign_id}/audience-preview", data={
            "csrf_token": csrf_of(step.text), "tags_any": "vip", "vt_key": "custmer_id", "vt_value": ""})
        assert TYPO in unescaped(counts)
        values = await editor.get(f"/ui/campaigns/{campaign_id}/valued-tag-values", params={"vt_key": "customer_id"})
        assert '<option value="7" label="1 contact"></option>' in values.text

    async def test_a_binding_to_an_unknown_key_is_refused_keeping_the_key_typed(
        self, app: FastAPI, browser: Browser, database: Database, org: OrgHandle
    ) -> None:
        number, bot = await setup_org(app, database, org.id)
        campaign_id = await ready_campaign(database, org.id, number, bot)
        editor = await browser(Role.editor)
        token = await page_csrf(editor, f"/ui/campaigns/{campaign_id}/edit/message")
        refused = await editor.post(f"/ui/campaigns/{campaign_id}/edit/message", data={
            "csrf_token": token, "template": "welcome|en_US", "positions": "1,2", "var_1_source": "contact_name",
            "var_1_fallback": "friend", "var_2_source": "valued_tag", "var_2_key": "custmer_id"})
        assert refused.status_code == 422
        page = unescaped(refused)
        assert f'id="variables-2-error" role="alert">{TYPO}<' in page
        assert 'name="var_2_key" type="text" list="valued-keys" maxlength="100" value="custmer_id"' in page
        assert 'value="friend"' in page
        assert (await campaign(database, campaign_id)).variables["2"] == {"source": "text", "value": "x"}
        # The keys are offered again when another template's fields replace the bindings.
        fields = await editor.post(f"/ui/campaigns/{campaign_id}/message-preview", data={
            "csrf_token": token, "template": "welcome|en_US", "part": "bindings"})
        assert '<option value="customer_id" label="1 contact"></option>' in fields.text


class TestScheduleForm:
    async def test_bad_values_re_render_the_form_with_the_message_and_the_values_typed(
        self, app: FastAPI, browser: Browser, database: Database, org: OrgHandle
    ) -> None:
        number, bot = await setup_org(app, database, org.id)
        campaign_id = await ready_campaign(database, org.id, number, bot)
        editor = await browser(Role.editor)
        page = await editor.get(f"/ui/campaigns/{campaign_id}/schedule")
        # No timezone chosen yet: the page's script puts the browser's in; every zone is offered to search.
        assert 'name="timezone" type="text" list="timezones" value=""' in page.text
        assert '<option value="America/Sao_Paulo"></option>' in page.text
        token = csrf_of(page.text)
        tomorrow = (date.today() + timedelta(days=2)).isoformat()
        cases = [
            ({"rate_per_hour": "lots"}, "rate_per_hour", "Contacts per hour must be a whole number, at least 1."),
            ({"rate_per_hour": "0"}, "rate_per_hour", "Contacts per hour must be a whole number, at least 1."),
            ({"timezone": "Europe/Pariss"}, "timezone", "Unknown timezone “Europe/Pariss”: pick one from the list"),
            ({"day": "", "clock": ""}, "start_at", "Give a date and a time."),
            ({"day": "2020-01-01"}, "start_at", "The start time has passed: pick a later date or time."),
        ]
        for change, field, words in cases:
            form = {"csrf_token": token, "day": tomorrow, "clock": "09:30", "timezone": "Asia/Tokyo",
                    "rate_per_hour": "250", **change}
            refused = await editor.post(f"/ui/campaigns/{campaign_id}/schedule", data=form)
            assert refused.status_code == 422 and refused.headers["content-type"].startswith("text/html"), change
            text = unescaped(refused)
            assert f'id="{field}-error" role="alert">{words}' in text, change
            for name in ("day", "clock", "timezone", "rate_per_hour"):
                assert f'name="{name}"' in text and f'value="{form[name]}"' in text, (change, name)
        estimate = await editor.get(f"/ui/campaigns/{campaign_id}/schedule/estimate",
                                    params={"day": tomorrow, "clock": "09:00", "timezone": "UTC", "rate_per_hour": "x"})
        assert estimate.status_code == 200 and estimate.headers["content-type"].startswith("text/html")
        assert (await campaign(database, campaign_id)).status == "ready"

    async def test_a_campaign_that_cannot_be_scheduled_is_not_offered_the_schedule_page(
        self, app: FastAPI, browser: Browser, database: Database, org: OrgHandle
    ) -> None:
        number, bot = await setup_org(app, database, org.id)
        draft = await ready_campaign(database, org.id, number, bot)
        async with database.session() as session:
            await session.execute(update(Campaign).where(Campaign.id == draft).values(name="Half done", template_name=None))
        editor = await browser(Role.editor)
        listing = await editor.get("/ui/campaigns")
        assert f"/ui/campaigns/{draft}/schedule" not in listing.text
        sent_away = await editor.get(f"/ui/campaigns/{draft}/schedule")
        assert sent_away.status_code == 303 and sent_away.headers["location"] == "/ui/campaigns"
        flash = unescaped(await editor.get("/ui/campaigns"))
        assert "“Half done” cannot be scheduled: it is Draft; finish it first." in flash


class TestRefusalWords:
    async def test_an_incomplete_campaign_refused_at_start_names_the_steps_by_their_labels(
        self, app: FastAPI, browser: Browser, database: Database, org: OrgHandle
    ) -> None:
        number, bot = await setup_org(app, database, org.id)
        campaign_id = await ready_campaign(database, org.id, number, bot)
        # Stored as ready, but its name and bot flow are gone since: the start re-checks it.
        async with database.session() as session:
            await session.execute(update(Campaign).where(Campaign.id == campaign_id).values(name="", bot_flow_id=None))
        editor = await browser(Role.editor)
        token = await page_csrf(editor, "/ui/contacts")  # a page that does not refresh the campaign's status
        refused = await editor.post(f"/ui/campaigns/{campaign_id}/start", data={"csrf_token": token},
                                    headers={"referer": "http://herald.test/ui/campaigns"})
        assert refused.status_code == 303
        flash = unescaped(await editor.get(refused.headers["location"]))
        assert ("The campaign is not complete: finish “1. Name & number” (Name) and “4. Bot flow” (Bot flow)."
                in flash)
        assert "bot_flow_id" not in flash
