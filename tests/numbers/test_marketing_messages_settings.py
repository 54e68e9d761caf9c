"""A number's Marketing Messages API settings through the API: stored, shown, validated, cleared.

The time to live is Meta's customizable range for marketing templates, 43200 (12 hours) to 2592000
(30 days) seconds (Meta, "Time-to-live": developers.facebook.com/documentation/business-messaging/
whatsapp/templates/time-to-live/); outside it, 422 naming the field.
"""

from __future__ import annotations

import httpx
import pytest

from herald.simulator import SimulatorServer
from tests.conftest import OrgHandle
from tests.numbers.helpers import OTHER_PHONE_NUMBER_ID, field_names, register_number

NUMBERS = "/api/v1/whatsapp-numbers"
SETTINGS = ("marketing_messages_api", "marketing_messages_ttl_seconds", "marketing_messages_activity_sharing")


def settings_of(body: dict) -> tuple:
    return tuple(body[name] for name in SETTINGS)


class TestMarketingMessagesSettings:
    async def test_off_by_default_set_at_creation_changed_and_cleared(
        self, client: httpx.AsyncClient, org: OrgHandle, sim: SimulatorServer
    ) -> None:
        plain = await register_number(client, org, sim.base_url)
        assert settings_of(plain) == (False, None, None)
        number = await register_number(client, org, sim.base_url, phone_number_id=OTHER_PHONE_NUMBER_ID,
                                       marketing_messages_api=True, marketing_messages_ttl_seconds=43_200,
                                       marketing_messages_activity_sharing=False)
        assert settings_of(number) == (True, 43_200, False)

        url = f"{NUMBERS}/{number['id']}"
        changed = await client.patch(url, json={"marketing_messages_ttl_seconds": 2_592_000}, headers=org.auth)
        assert changed.status_code == 200 and settings_of(changed.json()) == (True, 2_592_000, False)
        # Left out: kept. An explicit null: back to Meta's default.
        kept = await client.patch(url, json={"display_phone_number": "+1 555 000 0002"}, headers=org.auth)
        assert settings_of(kept.json()) == (True, 2_592_000, False)
        cleared = await client.patch(url, json={"marketing_messages_ttl_seconds": None,
                                                "marketing_messages_activity_sharing": None,
                                                "marketing_messages_api": False}, headers=org.auth)
        assert settings_of(cleared.json()) == (False, None, None)
        assert settings_of((await client.get(url, headers=org.auth)).json()) == (False, None, None)

    @pytest.mark.parametrize(("field", "value"), [
        ("marketing_messages_ttl_seconds", 43_199),  # under 12 hours
        ("marketing_messages_ttl_seconds", 2_592_001),  # over 30 days
        ("marketing_messages_ttl_seconds", "a day"),
        ("marketing_messages_activity_sharing", "sometimes"),
        ("marketing_messages_api", "maybe"),
    ])
    async def test_a_bad_value_is_422_naming_the_field(
        self, client: httpx.AsyncClient, org: OrgHandle, sim: SimulatorServer, field: str, value: object
    ) -> None:
        number = await register_number(client, org, sim.base_url)
        refused = await client.patch(f"{NUMBERS}/{number['id']}", json={field: value}, headers=org.auth)
        assert refused.status_code == 422 and field in field_names(refused)
        created = await client.post(NUMBERS, json={field: value}, headers=org.auth)
        assert created.status_code == 422 and field in field_names(created)
