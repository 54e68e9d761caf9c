"""A campaign's send window through the API: its fields and their checks, the audience preview by zone,
and the estimated finish (campaigns/send_window.py; the engine side: tests/dispatch/test_send_windows.py)."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import httpx

from herald.kit.db import Database
from herald.kit.types import utcnow
from tests.campaigns.conftest import BASE, create, error_fields
from tests.conftest import OrgHandle
from tests.factories import World, make_contacts

WINDOW = {"window_start": "10:00", "window_end": "20:00", "window_weekdays": ["mon", "tue", "wed", "thu", "fri"]}


class TestFields:
    async def test_a_window_is_saved_read_and_cleared(self, client: httpx.AsyncClient, org: OrgHandle, world: World) -> None:
        campaign = await create(client, org, world.campaign(**WINDOW, window_end_action="end"))
        assert {k: campaign[k] for k in (*WINDOW, "window_end_action")} == {**WINDOW, "window_end_action": "end"}
        plain = await create(client, org, world.campaign(name="No window"))
        assert (plain["window_start"], plain["window_end"], plain["window_end_action"]) == (None, None, "carry_on")
        # Overnight: an end before the start.
        answer = await client.patch(f"{BASE}/{campaign['id']}", headers=org.auth,
                                    json={"window_start": "22:00", "window_end": "06:00"})
        assert answer.status_code == 200 and answer.json()["window_end"] == "06:00"
        assert answer.json()["window_weekdays"] == WINDOW["window_weekdays"]  # the others stay
        copy = await client.post(f"{BASE}/{campaign['id']}/duplicate", headers=org.auth)
        assert (copy.json()["window_start"], copy.json()["window_end_action"]) == ("22:00", "end")
        answer = await client.patch(f"{BASE}/{campaign['id']}", headers=org.auth,
                                    json={"window_start": None, "window_end": None})
        assert answer.status_code == 200 and answer.json()["window_start"] is None

    async def test_bad_windows_are_422_naming_the_field(self, client: httpx.AsyncClient, org: OrgHandle,
                                                        world: World) -> None:
        campaign = await create(client, org, world.campaign())
        for body, field in [
            ({"window_start": "10:00"}, "window_end"),
            ({"window_end": "20:00"}, "window_start"),
            ({"window_start": "10:00", "window_end": "10:00"}, "window_end"),
            ({"window_start": "25:00", "window_end": "20:00"}, "window_start"),
            ({"window_start": "9am", "window_end": "20:00"}, "window_start"),
            ({"window_start": "10:00", "window_end": "20:00", "window_weekdays": []}, "window_weekdays"),
            ({"window_start": "10:00", "window_end": "20:00", "window_weekdays": ["monday"]}, "window_weekdays"),
            ({"window_start": "10:00", "window_end": "20:00", "window_end_action": "stop"}, "window_end_action"),
        ]:
            answer = await client.patch(f"{BASE}/{campaign['id']}", headers=org.auth, json=body)
            assert answer.status_code == 422, (body, answer.text)
            assert any(field in f for f in error_fields(answer)), (body, answer.text)
        refused = await client.post(BASE, headers=org.auth, json=world.campaign(window_start="10:00"))
        assert refused.status_code == 422 and "window_end" in error_fields(refused)
        assert (await client.get(f"{BASE}/{campaign['id']}", headers=org.auth)).json()["window_start"] is None


class TestAudiencePreview:
    async def test_it_counts_contacts_outside_their_window_by_zone_and_bad_timezone_tags(
        self, client: httpx.AsyncClient, org: OrgHandle, world: World, database: Database
    ) -> None:
        # A three-hour window around now in Paris (the world's vip, +33): closed in Tokyo and São Paulo.
        paris = utcnow().astimezone(ZoneInfo("Europe/Paris"))
        start, end = (paris - timedelta(hours=1)).strftime("%H:%M"), (paris + timedelta(hours=2)).strftime("%H:%M")
        await make_contacts(database, org_id=org.id, specs=[
            {"phone": "+5511987654321", "tags": ["vip"]},
            {"phone": "+33612345678", "tags": ["vip"], "valued_tags": {"timezone": "Asia/Tokyo"}},
            {"phone": "+33612345679", "tags": ["vip"], "valued_tags": {"timezone": "Paris"}},
        ])
        campaign = await create(client, org, world.campaign(window_start=start, window_end=end))
        answer = await client.post(f"{BASE}/{campaign['id']}/audience-preview", headers=org.auth)
        assert answer.status_code == 200, answer.text
        shown = answer.json()["send_window"]
        assert shown["outside_now"] == 2 and shown["invalid_timezone_tags"] == 1
        zones = {z["zone"]: (z["contacts"], z["open_now"]) for z in shown["zones"]}
        assert zones == {"Europe/Paris": (2, True), "Asia/Tokyo": (1, False), "America/Sao_Paulo": (1, False)}
        assert shown["next_opening"] is not None
        plain = await create(client, org, world.campaign(name="No window"))
        answer = await client.post(f"{BASE}/{plain['id']}/audience-preview", headers=org.auth)
        assert answer.json().get("send_window") is None


class TestEstimate:
    async def test_a_scheduled_campaign_finishes_when_its_windows_let_it(
        self, client: httpx.AsyncClient, org: OrgHandle, world: World, database: Database
    ) -> None:
        await make_contacts(database, org_id=org.id, specs=[{"phone": f"+3361555{n:04d}", "tags": ["vip"]} for n in range(5)])
        created = await create(client, org, world.campaign(window_start="10:00", window_end="11:00"))
        paris = ZoneInfo("Europe/Paris")
        tomorrow = (utcnow().astimezone(paris) + timedelta(days=1)).date()
        start_at = datetime.combine(tomorrow, time(10), tzinfo=paris)
        scheduled = await client.post(f"{BASE}/{created['id']}/schedule", headers=org.auth,
                                      json={"start_at": start_at.isoformat(), "rate_per_hour": 3})
        assert scheduled.status_code == 200, scheduled.text
        listed = (await client.get(BASE, headers=org.auth)).json()["items"]
        finish = next(c for c in listed if c["id"] == created["id"])["progress"]["estimated_finish"]
        # Six contacts in Paris at 3 an hour, one hour a day: three the first day, three the next by 11:00.
        assert datetime.fromisoformat(finish.replace("Z", "+00:00")) == start_at + timedelta(hours=25)

