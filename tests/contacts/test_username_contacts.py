"""Contacts known by a WhatsApp user id (BSUID) and no phone (issue 20, item 6): the API and the CSV
import take ``wa_user_id`` next to ``phone``; a contact needs one of them, each unique per organization."""

from __future__ import annotations

from typing import Any

import httpx

from herald.auth.principal import Role
from tests.conftest import OrgHandle

URSULA_ID = "US.13491208655302741918"
PEDRO_ID = "BR.99887766554433221100"
PARENT_ID = "BR.ENT.11815799212886844830"


async def post(client: httpx.AsyncClient, org: OrgHandle, body: dict[str, Any], **params: Any) -> httpx.Response:
    return await client.post("/api/v1/contacts", json=body, headers=org.headers(Role.editor), params=params)


def error(answer: httpx.Response) -> dict[str, Any]:
    return answer.json()["error"]  # type: ignore[no-any-return]


async def import_csv(client: httpx.AsyncClient, org: OrgHandle, body: str) -> dict[str, Any]:
    answer = await client.post("/api/v1/contacts/import", files={"file": ("c.csv", body.encode(), "text/csv")},
                               headers=org.headers(Role.editor))
    assert answer.status_code == 200, answer.text
    return answer.json()  # type: ignore[no-any-return]


async def find(client: httpx.AsyncClient, org: OrgHandle, q: str) -> list[dict[str, Any]]:
    answer = await client.get("/api/v1/contacts", params={"q": q}, headers=org.auth)
    assert answer.status_code == 200
    return answer.json()["items"]  # type: ignore[no-any-return]


class TestContactsApi:
    async def test_a_contact_with_only_a_user_id_is_created_found_and_shown(
        self, client: httpx.AsyncClient, org: OrgHandle
    ) -> None:
        answer = await post(client, org, {"wa_user_id": f"  {URSULA_ID} ", "name": "Ursula", "tags": ["vip"]})
        assert answer.status_code == 201, answer.text
        created = answer.json()
        assert (created["phone"], created["phone_raw"], created["wa_user_id"]) == (None, None, URSULA_ID)
        fetched = (await client.get(f"/api/v1/contacts/{created['id']}", headers=org.auth)).json()
        assert fetched == created
        assert [c["id"] for c in await find(client, org, URSULA_ID)] == [created["id"]]
        parent = await post(client, org, {"wa_user_id": PARENT_ID})
        assert parent.status_code == 201 and parent.json()["wa_user_id"] == PARENT_ID

    async def test_neither_phone_nor_user_id_or_a_malformed_user_id_is_422_naming_the_field(
        self, client: httpx.AsyncClient, org: OrgHandle
    ) -> None:
        neither = await post(client, org, {"name": "Nobody"})
        assert neither.status_code == 422 and error(neither)["details"][0]["field"] == "phone"
        for bad in ("john", "us.123", "US-123", "US." + "9" * 129, "US.12 34"):
            answer = await post(client, org, {"wa_user_id": bad})
            assert answer.status_code == 422, bad
            assert error(answer)["code"] == "invalid_user_id" and error(answer)["details"][0]["field"] == "wa_user_id"

    async def test_a_user_id_is_unique_in_the_organization(
        self, client: httpx.AsyncClient, org: OrgHandle, other_org: OrgHandle
    ) -> None:
        first = (await post(client, org, {"wa_user_id": URSULA_ID})).json()
        again = await post(client, org, {"wa_user_id": URSULA_ID, "phone": "+33612345678"})
        assert again.status_code == 409 and error(again)["code"] == "contact_exists"
        assert error(again)["details"] == {"wa_user_id": URSULA_ID, "contact_id": first["id"]}
        assert (await post(client, other_org, {"wa_user_id": URSULA_ID})).status_code == 201

    async def test_upsert_finds_the_contact_by_phone_or_by_user_id(
        self, client: httpx.AsyncClient, org: OrgHandle
    ) -> None:
        pedro = (await post(client, org, {"phone": "+5511988887777", "name": "Pedro", "tags": ["a"]})).json()
        linked = await post(client, org, {"phone": "5511988887777", "wa_user_id": PEDRO_ID}, upsert="true")
        assert linked.status_code == 200, linked.text
        assert (linked.json()["id"], linked.json()["wa_user_id"], linked.json()["name"]) == (pedro["id"], PEDRO_ID, "Pedro")
        by_user_id = await post(client, org, {"wa_user_id": PEDRO_ID, "tags": ["b"]}, upsert="true")
        assert by_user_id.status_code == 200
        assert (by_user_id.json()["id"], by_user_id.json()["phone"]) == (pedro["id"], "+5511988887777")
        assert by_user_id.json()["tags"] == ["a", "b"]
        new = await post(client, org, {"wa_user_id": URSULA_ID, "name": "Ursula"}, upsert="true")
        assert new.status_code == 201 and new.json()["phone"] is None

    async def test_upsert_with_a_phone_and_a_user_id_of_two_contacts_is_409_naming_both(
        self, client: httpx.AsyncClient, org: OrgHandle
    ) -> None:
        pedro = (await post(client, org, {"phone": "+5511988887777"})).json()
        ursula = (await post(client, org, {"wa_user_id": URSULA_ID})).json()
        answer = await post(client, org, {"phone": "+5511988887777", "wa_user_id": URSULA_ID}, upsert="true")
        assert answer.status_code == 409
        message = error(answer)["message"]
        assert f"contact {pedro['id']}" in message and f"contact {ursula['id']}" in message

    async def test_patch_removes_the_phone_or_the_user_id_but_never_both(
        self, client: httpx.AsyncClient, org: OrgHandle
    ) -> None:
        both = (await post(client, org, {"phone": "+5511988887777", "wa_user_id": PEDRO_ID})).json()
        url = f"/api/v1/contacts/{both['id']}"
        no_phone = await client.patch(url, json={"phone": None}, headers=org.auth)
        assert no_phone.status_code == 200 and no_phone.json()["phone"] is None
        assert no_phone.json()["wa_user_id"] == PEDRO_ID
        lose_both = await client.patch(url, json={"wa_user_id": None}, headers=org.auth)
        assert lose_both.status_code == 422 and error(lose_both)["details"][0]["field"] == "wa_user_id"
        swapped = await client.patch(url, json={"phone": "+5511988887777", "wa_user_id": None}, headers=org.auth)
        assert swapped.status_code == 200
        assert (swapped.json()["phone"], swapped.json()["wa_user_id"]) == ("+5511988887777", None)
        phone_only = await client.patch(url, json={"phone": None}, headers=org.auth)
        assert phone_only.status_code == 422 and error(phone_only)["details"][0]["field"] == "phone"
        other = (await post(client, org, {"wa_user_id": URSULA_ID})).json()
        taken = await client.patch(url, json={"wa_user_id": URSULA_ID}, headers=org.auth)
        assert taken.status_code == 409 and error(taken)["details"]["contact_id"] == other["id"]


class TestCsvImport:
    async def test_rows_with_a_user_id_create_and_update_contacts_in_file_order(
        self, client: httpx.AsyncClient, org: OrgHandle
    ) -> None:
        pedro = (await post(client, org, {"phone": "+5511988887777", "name": "Pedro"})).json()
        result = await import_csv(client, org, "\n".join([
            "phone,name,tags,wa_user_id",
            f",Ursula,vip,{URSULA_ID}",  # line 2: no phone, created by its user id
            f"+5511988887777,,vip,{PEDRO_ID}",  # line 3: the phone's contact gets the user id
            "+33612345678,Ana,vip,",  # line 4: phone only, as before
            f",,gold,{PEDRO_ID}",  # line 5: found by the user id alone
            ",,,not-a-user-id",  # line 6: refused
            f"+33612345678,,,{URSULA_ID}",  # line 7: Ana's phone with Ursula's id: two contacts, refused
            ",Nobody,,",  # line 8: neither
        ]) + "\n")
        assert (result["imported"], result["updated"], result["rejected_count"]) == (2, 2, 3)
        reasons = {r["line"]: r["reason"] for r in result["rejected"]}
        assert set(reasons) == {6, 7, 8}
        assert "invalid wa_user_id 'not-a-user-id'" in reasons[6]
        assert URSULA_ID in reasons[7] and "+33612345678" in reasons[7]
        assert reasons[8] == "phone and wa_user_id are empty"
        [ursula] = await find(client, org, URSULA_ID)
        assert (ursula["phone"], ursula["name"], ursula["tags"]) == (None, "Ursula", ["vip"])
        [linked] = await find(client, org, PEDRO_ID)
        assert (linked["id"], linked["phone"], linked["tags"]) == (pedro["id"], "+5511988887777", ["gold", "vip"])
        [ana] = await find(client, org, "Ana")
        assert ana["wa_user_id"] is None

    async def test_a_file_of_user_ids_needs_no_phone_column(self, client: httpx.AsyncClient, org: OrgHandle) -> None:
        result = await import_csv(client, org, f"wa_user_id;name\n{URSULA_ID};Ursula\n{PARENT_ID};Parent\n")
        assert (result["imported"], result["rejected_count"]) == (2, 0)
        assert [c["name"] for c in await find(client, org, PARENT_ID)] == ["Parent"]

    async def test_a_header_with_neither_column_is_refused(self, client: httpx.AsyncClient, org: OrgHandle) -> None:
        answer = await client.post("/api/v1/contacts/import", files={"file": ("c.csv", b"name,tags\nA,b\n", "text/csv")},
                                   headers=org.headers(Role.editor))
        assert answer.status_code == 422 and "'phone'" in error(answer)["message"]
        assert "wa_user_id" in error(answer)["message"]
