from __future__ import annotations

import httpx

from herald.auth.principal import Role
from tests.conftest import OrgHandle
from tests.factories import FR_PHONE, US_PHONE, create_contact

CASES = "/api/v1/cases"


class TestOpenCase:
    async def test_opens_a_case_by_phone_in_any_form(self, client: httpx.AsyncClient, org: OrgHandle) -> None:
        contact = await create_contact(client, org, phone=FR_PHONE)
        response = await client.post(CASES, json={"phone": "33 6 12 34 56 78", "subject": "refund"}, headers=org.auth)
        assert response.status_code == 201
        case = response.json()
        assert (case["contact_id"], case["phone"], case["status"], case["subject"]) == (
            contact["id"], FR_PHONE, "open", "refund"
        )
        assert case["closed_at"] is None

    async def test_a_second_open_case_for_the_contact_is_409(
        self, client: httpx.AsyncClient, org: OrgHandle
    ) -> None:
        contact = await create_contact(client, org)
        first = await client.post(CASES, json={"contact_id": contact["id"]}, headers=org.auth)
        second = await client.post(CASES, json={"phone": contact["phone"]}, headers=org.auth)
        assert second.status_code == 409
        assert second.json()["error"]["details"]["case_id"] == first.json()["id"]

    async def test_unknown_contact_is_404_and_bad_input_422(self, client: httpx.AsyncClient, org: OrgHandle) -> None:
        assert (await client.post(CASES, json={"phone": US_PHONE}, headers=org.auth)).status_code == 404
        assert (await client.post(CASES, json={"contact_id": 424242}, headers=org.auth)).status_code == 404
        bad_phone = await client.post(CASES, json={"phone": "12"}, headers=org.auth)
        assert bad_phone.status_code == 422
        assert bad_phone.json()["error"]["details"][0]["field"] == "phone"
        assert (await client.post(CASES, json={}, headers=org.auth)).status_code == 422

    async def test_another_orgs_contact_cannot_be_targeted(
        self, client: httpx.AsyncClient, org: OrgHandle, other_org: OrgHandle
    ) -> None:
        theirs = await create_contact(client, other_org, phone=US_PHONE)
        by_id = await client.post(CASES, json={"contact_id": theirs["id"]}, headers=org.auth)
        by_phone = await client.post(CASES, json={"phone": US_PHONE}, headers=org.auth)
        assert (by_id.status_code, by_phone.status_code) == (404, 404)

    async def test_viewer_cannot_open_or_close(self, client: httpx.AsyncClient, org: OrgHandle) -> None:
        contact = await create_contact(client, org)
        viewer = org.headers(Role.viewer)
        assert (await client.post(CASES, json={"contact_id": contact["id"]}, headers=viewer)).status_code == 403
        case = (await client.post(CASES, json={"contact_id": contact["id"]}, headers=org.auth)).json()
        assert (await client.post(f"{CASES}/{case['id']}/close", headers=viewer)).status_code == 403


class TestCloseCase:
    async def test_closing_allows_a_new_case_and_a_second_close_is_409(
        self, client: httpx.AsyncClient, org: OrgHandle
    ) -> None:
        contact = await create_contact(client, org)
        case = (await client.post(CASES, json={"contact_id": contact["id"]}, headers=org.auth)).json()
        closed = await client.post(f"{CASES}/{case['id']}/close", headers=org.auth)
        assert closed.status_code == 200
        assert closed.json()["status"] == "closed" and closed.json()["closed_at"] is not None
        assert (await client.post(f"{CASES}/{case['id']}/close", headers=org.auth)).status_code == 409
        reopened = await client.post(CASES, json={"contact_id": contact["id"]}, headers=org.auth)
        assert reopened.status_code == 201

    async def test_another_orgs_case_is_404(
        self, client: httpx.AsyncClient, org: OrgHandle, other_org: OrgHandle
    ) -> None:
        theirs = await create_contact(client, other_org)
        case = (await client.post(CASES, json={"contact_id": theirs["id"]}, headers=other_org.auth)).json()
        assert (await client.post(f"{CASES}/{case['id']}/close", headers=org.auth)).status_code == 404
        assert (await client.get(f"{CASES}/{case['id']}", headers=org.auth)).status_code == 404


class TestListCases:
    async def test_filters_by_status_and_pages_through(
        self, client: httpx.AsyncClient, org: OrgHandle, other_org: OrgHandle
    ) -> None:
        ids = []
        for n in range(5):
            contact = await create_contact(client, org, n=n)
            ids.append((await client.post(CASES, json={"contact_id": contact["id"]}, headers=org.auth)).json()["id"])
        await client.post(f"{CASES}/{ids[0]}/close", headers=org.auth)
        theirs = await create_contact(client, other_org)
        await client.post(CASES, json={"contact_id": theirs["id"]}, headers=other_org.auth)

        seen: list[int] = []
        cursor = None
        while True:
            params = {"status": "open", "limit": 2, **({"cursor": cursor} if cursor else {})}
            page = (await client.get(CASES, params=params, headers=org.headers(Role.viewer))).json()
            seen += [c["id"] for c in page["items"]]
            if not (cursor := page["next_cursor"]):
                break
        assert seen == ids[1:]
        closed = (await client.get(CASES, params={"status": "closed"}, headers=org.auth)).json()["items"]
        assert [c["id"] for c in closed] == [ids[0]]
        assert (await client.get(CASES, params={"status": "nope"}, headers=org.auth)).status_code == 422
