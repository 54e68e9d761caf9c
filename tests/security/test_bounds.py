"""Bounds on what a caller may ask for: a campaign's pace and start, tags per contact, and the length
of every free-text field. Beyond them: 422 with the error shape, naming the field (a CSV row:
rejected with the reason, the rest imported)."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from herald.auth.principal import Role
from herald.kit.db import Database
from tests.conftest import OrgHandle
from tests.factories import World, make_active_campaign, make_bot_flow, make_contacts, make_number, make_world
from tests.properties.helpers import stored_contacts
from tests.web.helpers import log_in, make_user, page_csrf

CAMPAIGNS = "/api/v1/campaigns"
CONTACTS = "/api/v1/contacts"


def assert_refused(response: httpx.Response, field: str, *words: str) -> str:
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert set(error) == {"code", "message", "details"}
    fields = [str(d["field"]) for d in error["details"] or []]
    assert any(f == field or f.startswith(f"{field}.") for f in fields), error
    text = str(error)
    for word in words:
        assert word in text, (word, error)
    return text


@pytest.fixture
async def world(database: Database, org: OrgHandle) -> World:
    return await make_world(database, org.id, throughput_mps=80)


async def ready_campaign(client: httpx.AsyncClient, org: OrgHandle, world: World) -> int:
    response = await client.post(CAMPAIGNS, json=world.campaign(), headers=org.auth)
    assert response.status_code == 201 and response.json()["status"] == "ready", response.text
    return int(response.json()["id"])


class TestPace:
    @pytest.mark.parametrize("rate", [0.001, 0.0099, 81, 1e9])
    async def test_start_refuses_a_rate_outside_0_01_and_the_numbers_throughput(
        self, client: httpx.AsyncClient, org: OrgHandle, world: World, rate: float
    ) -> None:
        campaign = await ready_campaign(client, org, world)
        response = await client.post(f"{CAMPAIGNS}/{campaign}/start", json={"rate_per_second": rate}, headers=org.auth)
        assert_refused(response, "rate_per_second", "0.01")

    @pytest.mark.parametrize("rate", [0.01, 80])
    async def test_start_takes_the_bounds_themselves(
        self, client: httpx.AsyncClient, org: OrgHandle, world: World, rate: float
    ) -> None:
        campaign = await ready_campaign(client, org, world)
        response = await client.post(f"{CAMPAIGNS}/{campaign}/start", json={"rate_per_second": rate}, headers=org.auth)
        assert response.status_code == 200 and response.json()["rate_per_second"] == rate

    async def test_a_running_campaigns_pace_is_bounded_alike(
        self, client: httpx.AsyncClient, org: OrgHandle, world: World
    ) -> None:
        campaign = await ready_campaign(client, org, world)
        assert (await client.post(f"{CAMPAIGNS}/{campaign}/start", headers=org.auth)).status_code == 200
        for body, field in (({"rate_per_second": 0.005}, "rate_per_second"), ({"rate_per_second": 80.5}, "rate_per_second"),
                            ({"rate_per_hour": 0}, "rate_per_hour"), ({"rate_per_hour": 80 * 3600 + 1}, "rate_per_hour")):
            assert_refused(await client.patch(f"{CAMPAIGNS}/{campaign}", json=body, headers=org.auth), field)

    async def test_a_draft_without_a_number_still_gets_a_bounded_pace(
        self, client: httpx.AsyncClient, org: OrgHandle
    ) -> None:
        draft = await client.post(CAMPAIGNS, json={"name": "Draft"}, headers=org.auth)
        campaign = draft.json()["id"]
        for body, field in (({"rate_per_hour": 10**12}, "rate_per_hour"), ({"rate_per_second": 10**6}, "rate_per_second"),
                            ({"rate_per_second": 0.001}, "rate_per_second")):
            assert_refused(await client.patch(f"{CAMPAIGNS}/{campaign}", json=body, headers=org.auth), field)


class TestStartAt:
    @pytest.mark.parametrize("start_at", [
        (datetime.now(UTC) + timedelta(days=366)).isoformat(),
        "9999-12-31T23:59:59-14:00",
        "0001-01-01T00:00:00+14:00",
    ], ids=["in-366-days", "year-9999", "year-1"])
    async def test_a_start_beyond_a_year_or_outside_the_calendar_is_refused_naming_start_at(
        self, client: httpx.AsyncClient, org: OrgHandle, world: World, start_at: str
    ) -> None:
        campaign = await ready_campaign(client, org, world)
        response = await client.post(f"{CAMPAIGNS}/{campaign}/schedule",
                                     json={"start_at": start_at, "rate_per_hour": 100}, headers=org.auth)
        assert_refused(response, "start_at")

    async def test_a_start_within_the_year_is_scheduled(
        self, client: httpx.AsyncClient, org: OrgHandle, world: World
    ) -> None:
        campaign = await ready_campaign(client, org, world)
        start_at = (datetime.now(UTC) + timedelta(days=364)).isoformat()
        response = await client.post(f"{CAMPAIGNS}/{campaign}/schedule",
                                     json={"start_at": start_at, "rate_per_hour": 1}, headers=org.auth)
        assert response.status_code == 200 and response.json()["status"] == "scheduled"

    async def test_the_ui_schedule_form_refuses_a_start_beyond_a_year(
        self, client: httpx.AsyncClient, database: Database, org: OrgHandle, world: World
    ) -> None:
        campaign = await ready_campaign(client, org, world)
        assert (await log_in(client, await make_user(database, org_id=org.id, role=Role.editor))).status_code == 303
        token = await page_csrf(client, f"/ui/campaigns/{campaign}/schedule")
        day = (datetime.now(UTC) + timedelta(days=400)).date().isoformat()
        answer = await client.post(f"/ui/campaigns/{campaign}/schedule", data={
            "csrf_token": token, "day": day, "clock": "09:00", "timezone": "UTC", "rate_per_hour": "100"})
        assert answer.status_code == 422 and "within a year" in answer.text


class TestTagsPerContact:
    async def test_at_most_100_tags_and_100_valued_tags_on_create(
        self, client: httpx.AsyncClient, org: OrgHandle
    ) -> None:
        tags = [f"t{i}" for i in range(101)]
        valued = {f"k{i}": "v" for i in range(101)}
        assert_refused(await client.post(CONTACTS, json={"phone": "+14155550100", "tags": tags}, headers=org.auth),
                       "tags", "100")
        assert_refused(await client.post(CONTACTS, json={"phone": "+14155550100", "valued_tags": valued},
                                         headers=org.auth), "valued_tags", "100")
        created = await client.post(CONTACTS, json={"phone": "+14155550100", "tags": tags[:100],
                                                    "valued_tags": dict(list(valued.items())[:100])}, headers=org.auth)
        assert created.status_code == 201, created.text
        assert len(created.json()["tags"]) == 100 and len(created.json()["valued_tags"]) == 100

    async def test_what_a_change_adds_counts_with_what_the_contact_had(
        self, client: httpx.AsyncClient, org: OrgHandle
    ) -> None:
        created = await client.post(CONTACTS, json={"phone": "+14155550101", "tags": [f"t{i}" for i in range(60)],
                                                    "valued_tags": {f"k{i}": "v" for i in range(60)}}, headers=org.auth)
        contact = created.json()["id"]
        more = {f"m{i}": "v" for i in range(41)}
        assert_refused(await client.patch(f"{CONTACTS}/{contact}", json={"valued_tags": more}, headers=org.auth),
                       "valued_tags", "100")
        upsert = {"phone": "+14155550101", "tags": [f"u{i}" for i in range(41)]}
        assert_refused(await client.post(CONTACTS, params={"upsert": "true"}, json=upsert, headers=org.auth),
                       "tags", "100")
        unchanged = (await client.get(f"{CONTACTS}/{contact}", headers=org.auth)).json()
        assert len(unchanged["tags"]) == 60 and len(unchanged["valued_tags"]) == 60
        # Replacing the set is bounded by the new set alone.
        replaced = await client.patch(f"{CONTACTS}/{contact}", json={"tags": [f"r{i}" for i in range(100)]},
                                      headers=org.auth)
        assert replaced.status_code == 200 and len(replaced.json()["tags"]) == 100

    async def test_a_csv_row_with_more_is_rejected_with_the_reason(
        self, client: httpx.AsyncClient, database: Database, org: OrgHandle
    ) -> None:
        keys = [f"k{i}" for i in range(101)]
        header = "phone,tags," + ",".join(f"vt:{k}" for k in keys)
        many_tags = ";".join(f"t{i}" for i in range(101))
        rows = [
            "+14155550201,vip," + ",".join("v" for _ in keys),  # 101 valued tags
            f"+14155550202,{many_tags}," + ",".join("" for _ in keys),  # 101 tags
            "+14155550203,vip," + ",".join("v" if i < 100 else "" for i in range(101)),  # 100: fine
        ]
        csv = "\n".join([header, *rows]) + "\n"
        response = await client.post(f"{CONTACTS}/import", headers=org.auth,
                                     files={"file": ("c.csv", io.BytesIO(csv.encode()), "text/csv")})
        assert response.status_code == 200, response.text
        result = response.json()
        assert result["imported"] == 1 and result["rejected_count"] == 2
        assert [(r["line"], "at most 100" in r["reason"]) for r in result["rejected"]] == [(2, True), (3, True)]
        assert list(await stored_contacts(database, org.id)) == ["+14155550203"]

    async def test_the_ui_edit_form_refuses_more_without_a_500(
        self, client: httpx.AsyncClient, database: Database, org: OrgHandle
    ) -> None:
        (contact,) = await make_contacts(database, org_id=org.id, specs=[{"phone": "+14155550301"}])
        assert (await log_in(client, await make_user(database, org_id=org.id, role=Role.editor))).status_code == 303
        token = await page_csrf(client, f"/ui/contacts/{contact}")
        answer = await client.post(f"/ui/contacts/{contact}", data={
            "csrf_token": token, "name": "Ann", "tags": ",".join(f"t{i}" for i in range(101)), "valued_tags": ""})
        assert answer.status_code == 422 and "at most 100 tags" in answer.text


def _long(n: int) -> str:
    return "x" * n


async def _paths(app_state: Any, database: Database, org: OrgHandle) -> dict[str, Any]:
    number = await make_number(database, app_state.secret_box, org_id=org.id, base_url="http://127.0.0.1:9")
    flow = await make_bot_flow(database, app_state.secret_box, org_id=org.id)
    (contact,) = await make_contacts(database, org_id=org.id, specs=[{"phone": "+14155550401", "tags": ["vip"]}])
    campaign = await make_active_campaign(database, org_id=org.id, number_id=number, audience={"tags_any": ["vip"]},
                                          variables={}, media_row_id=None, bot_flow_id=flow)
    return {"number": number, "flow": flow, "contact": contact, "campaign": campaign}


# (method, path, body, field): each body has one value one past its bound.
OVER_LONG: list[tuple[str, str, dict[str, Any], str]] = [
    ("POST", CAMPAIGNS, {"name": _long(201)}, "name"),
    ("POST", CAMPAIGNS, {"template": {"name": _long(513), "language": "en"}}, "template"),
    ("POST", CAMPAIGNS, {"audience": {"tags_any": [_long(101)]}}, "audience"),
    ("POST", CAMPAIGNS, {"audience": {"tags_all": [f"t{i}" for i in range(101)]}}, "audience"),
    ("POST", CAMPAIGNS, {"audience": {"valued_tags": [{"key": "city", "value": _long(501)}]}}, "audience"),
    ("POST", CAMPAIGNS, {"variables": {"1": {"source": "text", "value": _long(1025)}}}, "variables"),
    ("POST", CAMPAIGNS, {"variables": {"1": {"source": "contact_name", "fallback": _long(1025)}}}, "variables"),
    ("POST", CAMPAIGNS, {"variables": {str(i): {"source": "text", "value": "x"} for i in range(1, 102)}}, "variables"),
    ("POST", "/api/v1/bot-flows", {"name": _long(201), "webhook_url": "http://127.0.0.1:9/b", "secret": "s"}, "name"),
    ("POST", "/api/v1/bot-flows", {"name": "b", "webhook_url": "http://h/" + _long(1000), "secret": "s"}, "webhook_url"),
    ("POST", "/api/v1/bot-flows", {"name": "b", "webhook_url": "http://127.0.0.1:9/b", "secret": _long(501)}, "secret"),
    ("POST", "/api/v1/whatsapp-numbers", {"display_phone_number": _long(33), "phone_number_id": "1", "waba_id": "2",
                                          "access_token": "t", "app_secret": "s", "verify_token": "v"},
     "display_phone_number"),
    ("POST", "/api/v1/whatsapp-numbers", {"display_phone_number": "+1", "phone_number_id": "1", "waba_id": "2",
                                          "access_token": "t", "app_secret": "s", "verify_token": "v",
                                          "graph_api_base": "https://" + _long(300) + ".example"}, "graph_api_base"),
    ("POST", "/api/v1/api-keys", {"name": _long(201)}, "name"),
    ("POST", "/api/v1/users", {"email": _long(321) + "@x.test", "password": "correct horse"}, "email"),
    ("POST", CONTACTS, {"phone": "+14155550499", "name": _long(201)}, "name"),
    ("POST", CONTACTS, {"phone": "+14155550499", "tags": [_long(101)]}, "tags"),
    ("POST", CONTACTS, {"phone": "+14155550499", "valued_tags": {"city": _long(501)}}, "valued_tags"),
    ("POST", CONTACTS, {"phone": "+14155550499", "locale": _long(17)}, "locale"),
    ("POST", CONTACTS, {"phone": "+14155550499", "timezone": _long(65)}, "timezone"),
    ("POST", "/api/v1/cases", {"phone": "+14155550401", "subject": _long(301)}, "subject"),
    ("POST", "/api/v1/campaigns/{campaign}/funnel-events", {"contact_id": 0, "step": _long(101)}, "step"),
    ("POST", "/api/v1/messages", {"whatsapp_number_id": 0, "to": "+14155550401", "text": _long(4097)}, "text"),
    ("POST", "/api/v1/campaigns/{campaign}/test", {"phones": [_long(65)]}, "phones"),
]


class TestFreeTextLengths:
    @pytest.mark.parametrize(("method", "path", "body", "field"), OVER_LONG,
                             ids=[f"{p.rsplit('/', 1)[-1]}-{f}-{i}" for i, (_, p, _, f) in enumerate(OVER_LONG)])
    async def test_one_character_too_many_is_refused_naming_the_field(
        self, app: Any, client: httpx.AsyncClient, database: Database, org: OrgHandle,
        method: str, path: str, body: dict[str, Any], field: str,
    ) -> None:
        ids = await _paths(app.state, database, org)
        response = await client.request(method, path.format(**ids), json=body, headers=org.auth)
        assert_refused(response, field)

    @pytest.mark.parametrize(("params", "field"), [
        ({"q": _long(201)}, "q"),
        ({"tag": [_long(101)]}, "tag"),
        ({"tag": [f"t{i}" for i in range(21)]}, "tag"),
        ({"valued_tag": [f"k{i}=v" for i in range(21)]}, "valued_tag"),
        ({"valued_tag": ["city=" + _long(601)]}, "valued_tag"),
    ])
    async def test_search_parameters_are_bounded(
        self, client: httpx.AsyncClient, org: OrgHandle, params: dict[str, Any], field: str
    ) -> None:
        assert_refused(await client.get(CONTACTS, params=params, headers=org.auth), field)
