from __future__ import annotations

import httpx
import pytest

from herald.auth.principal import Role
from tests.conftest import OrgHandle
from tests.factories import FR_PHONE, UK_PHONE, US_PHONE, create_contact

CONTACTS = "/api/v1/contacts"


class TestCreateContact:
    async def test_phone_is_stored_in_e164_and_the_raw_input_kept(
        self, client: httpx.AsyncClient, org: OrgHandle
    ) -> None:
        contact = await create_contact(
            client, org, phone="33 6 12 34 56 78", name="Ana", tags=["vip", "lisbon"],
            valued_tags={"customer_id": "8812"}, timezone="Europe/Lisbon",
        )
        assert contact["phone"] == FR_PHONE
        assert contact["phone_raw"] == "33 6 12 34 56 78"
        assert contact["name"] == "Ana"
        assert contact["tags"] == ["lisbon", "vip"]
        assert contact["valued_tags"] == {"customer_id": "8812"}
        assert contact["timezone"] == "Europe/Lisbon"
        assert contact["opted_out"] is False
        assert {"id", "created_at"} <= set(contact)

    async def test_invalid_phone_is_422_naming_the_phone_field(
        self, client: httpx.AsyncClient, org: OrgHandle
    ) -> None:
        response = await client.post(CONTACTS, json={"phone": "123"}, headers=org.auth)
        assert response.status_code == 422
        error = response.json()["error"]
        assert error["details"][0]["field"] == "phone"
        assert "123" in error["message"]

    async def test_duplicate_phone_without_upsert_is_409(self, client: httpx.AsyncClient, org: OrgHandle) -> None:
        first = await create_contact(client, org, phone=US_PHONE)
        response = await client.post(CONTACTS, json={"phone": "1 415 555 2671"}, headers=org.auth)
        assert response.status_code == 409
        assert response.json()["error"]["details"]["contact_id"] == first["id"]

    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ({"tags": ["x" * 101]}, "tags"),
            ({"tags": ["  "]}, "tags"),
            ({"valued_tags": {"k" * 101: "v"}}, "valued_tags"),
            ({"valued_tags": {"plan": "v" * 501}}, "valued_tags.plan"),
            ({"timezone": "Mars/Olympus"}, "timezone"),
        ],
    )
    async def test_bad_tags_and_timezones_are_422_naming_the_field(
        self, client: httpx.AsyncClient, org: OrgHandle, body: dict[str, object], field: str
    ) -> None:
        response = await client.post(CONTACTS, json={"phone": US_PHONE, **body}, headers=org.auth)
        assert response.status_code == 422
        assert response.json()["error"]["details"][0]["field"] == field


class TestUpsertContact:
    async def test_upsert_adds_tags_overwrites_given_valued_tags_and_replaces_the_name(
        self, client: httpx.AsyncClient, org: OrgHandle
    ) -> None:
        first = await create_contact(
            client, org, phone=UK_PHONE, name="Old", tags=["a"], valued_tags={"plan": "free", "city": "Leeds"}
        )
        response = await client.post(
            f"{CONTACTS}?upsert=true",
            json={"phone": "447911123456", "name": "New", "tags": ["b"], "valued_tags": {"plan": "pro"}},
            headers=org.auth,
        )
        assert response.status_code == 200
        contact = response.json()
        assert contact["id"] == first["id"]
        assert contact["name"] == "New"
        assert contact["tags"] == ["a", "b"]
        assert contact["valued_tags"] == {"city": "Leeds", "plan": "pro"}
        assert contact["phone_raw"] == UK_PHONE

    async def test_upsert_without_a_name_keeps_the_name(self, client: httpx.AsyncClient, org: OrgHandle) -> None:
        await create_contact(client, org, phone=UK_PHONE, name="Kept")
        response = await client.post(f"{CONTACTS}?upsert=true", json={"phone": UK_PHONE}, headers=org.auth)
        assert response.json()["name"] == "Kept"

    async def test_upsert_of_a_new_phone_creates_it(self, client: httpx.AsyncClient, org: OrgHandle) -> None:
        response = await client.post(
            f"{CONTACTS}?upsert=true", json={"phone": US_PHONE, "tags": ["t"]}, headers=org.auth
        )
        assert response.status_code == 201
        assert response.json()["tags"] == ["t"]


class TestGetContact:
    async def test_returns_the_contact(self, client: httpx.AsyncClient, org: OrgHandle) -> None:
        contact = await create_contact(client, org, tags=["x"])
        response = await client.get(f"{CONTACTS}/{contact['id']}", headers=org.headers(Role.viewer))
        assert response.status_code == 200
        assert response.json() == contact

    async def test_unknown_id_is_404(self, client: httpx.AsyncClient, org: OrgHandle) -> None:
        response = await client.get(f"{CONTACTS}/999999", headers=org.auth)
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "contact_not_found"


class TestUpdateContact:
    async def test_tags_replace_the_set_and_valued_tags_merge_with_null_deleting(
        self, client: httpx.AsyncClient, org: OrgHandle
    ) -> None:
        contact = await create_contact(client, org, tags=["a", "b"], valued_tags={"plan": "free", "city": "Paris"})
        response = await client.patch(
            f"{CONTACTS}/{contact['id']}",
            json={"tags": ["b", "c"], "valued_tags": {"plan": "pro", "city": None, "tier": "2"}},
            headers=org.auth,
        )
        assert response.status_code == 200
        assert response.json()["tags"] == ["b", "c"]
        assert response.json()["valued_tags"] == {"plan": "pro", "tier": "2"}

    async def test_only_fields_sent_change(self, client: httpx.AsyncClient, org: OrgHandle) -> None:
        contact = await create_contact(client, org, name="Ana", tags=["a"], timezone="Europe/Paris")
        response = await client.patch(f"{CONTACTS}/{contact['id']}", json={"name": "Bea"}, headers=org.auth)
        updated = response.json()
        assert (updated["name"], updated["tags"], updated["timezone"]) == ("Bea", ["a"], "Europe/Paris")

    async def test_phone_change_is_normalised_and_a_taken_phone_is_409(
        self, client: httpx.AsyncClient, org: OrgHandle
    ) -> None:
        contact = await create_contact(client, org, phone=US_PHONE)
        await create_contact(client, org, phone=UK_PHONE)
        moved = await client.patch(f"{CONTACTS}/{contact['id']}", json={"phone": "33612345678"}, headers=org.auth)
        assert moved.json()["phone"] == FR_PHONE
        taken = await client.patch(f"{CONTACTS}/{contact['id']}", json={"phone": UK_PHONE}, headers=org.auth)
        assert taken.status_code == 409

    async def test_opt_out_is_recorded(self, client: httpx.AsyncClient, org: OrgHandle) -> None:
        contact = await create_contact(client, org)
        response = await client.patch(f"{CONTACTS}/{contact['id']}", json={"opted_out": True}, headers=org.auth)
        assert response.json()["opted_out"] is True

    async def test_invalid_phone_is_422_naming_phone(self, client: httpx.AsyncClient, org: OrgHandle) -> None:
        contact = await create_contact(client, org)
        response = await client.patch(f"{CONTACTS}/{contact['id']}", json={"phone": "12"}, headers=org.auth)
        assert response.status_code == 422
        assert response.json()["error"]["details"][0]["field"] == "phone"


class TestDeleteContact:
    async def test_deleted_contact_is_gone_and_its_tags_no_longer_counted(
        self, client: httpx.AsyncClient, org: OrgHandle
    ) -> None:
        contact = await create_contact(client, org, tags=["gone"], valued_tags={"k": "v"})
        response = await client.delete(f"{CONTACTS}/{contact['id']}", headers=org.auth)
        assert response.status_code == 204
        assert (await client.get(f"{CONTACTS}/{contact['id']}", headers=org.auth)).status_code == 404
        assert (await client.get("/api/v1/tags", headers=org.auth)).json() == []
        assert (await client.get("/api/v1/valued-tags", headers=org.auth)).json() == []


class TestListContacts:
    async def test_filters_by_tag_valued_tag_key_key_value_and_q(
        self, client: httpx.AsyncClient, org: OrgHandle
    ) -> None:
        ana = await create_contact(client, org, n=1, name="Ana Lima", tags=["vip"], valued_tags={"plan": "pro"})
        bob = await create_contact(client, org, n=2, name="Bob", tags=["vip", "new"], valued_tags={"plan": "free"})
        cid = await create_contact(client, org, phone=US_PHONE, name="Cid 100%", tags=["new"])

        async def ids(query: str) -> list[int]:
            response = await client.get(f"{CONTACTS}?{query}", headers=org.headers(Role.viewer))
            assert response.status_code == 200, response.text
            return [c["id"] for c in response.json()["items"]]

        assert await ids("tag=vip") == [ana["id"], bob["id"]]
        assert await ids("tag=vip&tag=new") == [bob["id"]]
        assert await ids("valued_tag=plan") == [ana["id"], bob["id"]]
        assert await ids("valued_tag=plan=free") == [bob["id"]]
        assert await ids("q=lima") == [ana["id"]]
        assert await ids("q=%2B1 415") == [cid["id"]]
        assert await ids("q=100%25") == [cid["id"]]
        assert await ids("tag=unknown") == []

    async def test_pagination_walks_every_contact_once(self, client: httpx.AsyncClient, org: OrgHandle) -> None:
        created = {(await create_contact(client, org, n=i))["id"] for i in range(7)}
        seen: list[int] = []
        cursor: str | None = None
        while True:
            params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
            page = (await client.get(CONTACTS, params=params, headers=org.auth)).json()
            seen += [c["id"] for c in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert sorted(seen) == sorted(created)
        assert len(seen) == len(set(seen))

    async def test_bad_cursor_or_limit_is_422(self, client: httpx.AsyncClient, org: OrgHandle) -> None:
        assert (await client.get(f"{CONTACTS}?cursor=@@", headers=org.auth)).status_code == 422
        assert (await client.get(f"{CONTACTS}?limit=0", headers=org.auth)).status_code == 422


class TestTenantIsolation:
    async def test_another_orgs_contact_is_404_on_read_update_and_delete(
        self, client: httpx.AsyncClient, org: OrgHandle, other_org: OrgHandle
    ) -> None:
        theirs = await create_contact(client, other_org, tags=["secret"])
        url = f"{CONTACTS}/{theirs['id']}"
        assert (await client.get(url, headers=org.auth)).status_code == 404
        assert (await client.patch(url, json={"name": "x"}, headers=org.auth)).status_code == 404
        assert (await client.delete(url, headers=org.auth)).status_code == 404
        assert (await client.get(url, headers=other_org.auth)).json()["name"] is None

    async def test_lists_and_counts_never_show_another_orgs_contacts(
        self, client: httpx.AsyncClient, org: OrgHandle, other_org: OrgHandle
    ) -> None:
        await create_contact(client, other_org, tags=["secret"], valued_tags={"k": "v"})
        assert (await client.get(CONTACTS, headers=org.auth)).json()["items"] == []
        assert (await client.get(f"{CONTACTS}?tag=secret", headers=org.auth)).json()["items"] == []
        assert (await client.get("/api/v1/tags", headers=org.auth)).json() == []
        assert (await client.get("/api/v1/valued-tags", headers=org.auth)).json() == []

    async def test_the_same_phone_may_be_a_contact_in_two_orgs(
        self, client: httpx.AsyncClient, org: OrgHandle, other_org: OrgHandle
    ) -> None:
        await create_contact(client, org, phone=US_PHONE)
        await create_contact(client, other_org, phone=US_PHONE)


class TestViewerCannotWrite:
    async def test_every_write_is_403_for_a_viewer(self, client: httpx.AsyncClient, org: OrgHandle) -> None:
        contact = await create_contact(client, org)
        viewer = org.headers(Role.viewer)
        url = f"{CONTACTS}/{contact['id']}"
        files = {"file": ("c.csv", b"phone\n+14155552671\n", "text/csv")}
        responses = [
            await client.post(CONTACTS, json={"phone": US_PHONE}, headers=viewer),
            await client.post(f"{CONTACTS}?upsert=true", json={"phone": US_PHONE}, headers=viewer),
            await client.patch(url, json={"name": "x"}, headers=viewer),
            await client.delete(url, headers=viewer),
            await client.post(f"{CONTACTS}/import", files=files, headers=viewer),
        ]
        assert [r.status_code for r in responses] == [403] * len(responses)
        assert (await client.get(url, headers=org.auth)).json()["name"] is None


class TestListTags:
    async def test_each_tag_with_its_number_of_contacts(self, client: httpx.AsyncClient, org: OrgHandle) -> None:
        await create_contact(client, org, n=1, tags=["vip", "new"])
        await create_contact(client, org, n=2, tags=["vip"])
        response = await client.get("/api/v1/tags", headers=org.headers(Role.viewer))
        assert response.json() == [{"name": "new", "contacts": 1}, {"name": "vip", "contacts": 2}]


class TestListValuedTags:
    async def test_each_key_with_its_number_of_contacts(self, client: httpx.AsyncClient, org: OrgHandle) -> None:
        await create_contact(client, org, n=1, valued_tags={"plan": "pro", "city": "Lyon"})
        await create_contact(client, org, n=2, valued_tags={"plan": "free"})
        response = await client.get("/api/v1/valued-tags", headers=org.headers(Role.viewer))
        assert response.json() == [{"key": "city", "contacts": 1}, {"key": "plan", "contacts": 2}]
