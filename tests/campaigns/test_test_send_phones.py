"""A test send takes a phone in any form the contacts API accepts, and it names the same contact.

Both go through ``herald.contacts.e164.to_e164``: a number a user could add as a contact cannot be
refused when they send that contact a test, nor can the two resolve it to different numbers."""

from __future__ import annotations

import httpx
import pytest

from herald.kit.db import Database
from herald.models import Campaign
from tests.campaigns.conftest import act, create, error_fields
from tests.conftest import OrgHandle
from tests.factories import World

CONTACTS = "/api/v1/contacts"

# (as a user writes it, E.164): a country code in parentheses, a tel: URI, punctuation, the '+' left out…
PHONE_FORMS = [
    ("(+33) 6 12 34 56 78", "+33612345678"),
    ("tel:+44-7911-123456", "+447911123456"),
    ("+44 (0) 7911 123457", "+447911123457"),
    ("+1 (415) 555-2671", "+14155552671"),
    ("1-415-555-2672", "+14155552672"),
    ("55 11 98765-4321", "+5511987654321"),
    ("+33.6.12.34.56.79", "+33612345679"),
]
NOT_PHONES = ["12", "06 12 34 56 78", "+33 6 12", "not a phone"]


class TestTestSendPhones:
    @pytest.mark.parametrize(("raw", "e164"), PHONE_FORMS)
    async def test_a_phone_the_contacts_api_accepts_is_accepted_by_a_test_send_for_the_same_contact(
        self, client: httpx.AsyncClient, org: OrgHandle, world: World, database: Database, raw: str, e164: str
    ) -> None:
        added = await client.post(CONTACTS, json={"phone": raw}, headers=org.auth)
        assert added.status_code == 201, added.text
        contact = added.json()
        assert contact["phone"] == e164
        campaign = await create(client, org, world.campaign())

        response = await act(client, org, campaign["id"], "test", phones=[raw])

        assert response.status_code == 201, response.text
        async with database.read_session() as session:
            test = await session.get(Campaign, response.json()["id"])
        assert test is not None and test.test_contact_ids == [contact["id"]]

    async def test_a_phone_the_contacts_api_refuses_is_refused_by_a_test_send_naming_it(
        self, client: httpx.AsyncClient, org: OrgHandle, world: World
    ) -> None:
        for raw in NOT_PHONES:
            refused = await client.post(CONTACTS, json={"phone": raw}, headers=org.auth)
            assert refused.status_code == 422, raw
        campaign = await create(client, org, world.campaign())

        response = await act(client, org, campaign["id"], "test", phones=NOT_PHONES)

        assert response.status_code == 422
        assert error_fields(response) == [f"phones.{i}" for i in range(len(NOT_PHONES))]
