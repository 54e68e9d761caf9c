from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from herald.auth.principal import Role
from herald.config import Settings
from herald.contacts.importer import import_contacts
from herald.kit.db import Database
from tests.conftest import OrgHandle
from tests.factories import create_contact, fr_mobile

IMPORT = "/api/v1/contacts/import"

MIXED_CSV = (
    b"phone,name,tags,vt:plan\n"
    b"+33600000001,Ana,vip;new,pro\n"      # 2 new
    b"33600000002,\"Lima, Bob\",vip,\n"    # 3 new
    b"123,Bad,,\n"                         # 4 invalid phone
    b"+33600000001,,extra,\n"              # 5 same phone again: upserts line 2
    b",NoPhone,,\n"                        # 6 empty phone
    b"+33600000003,Cid\n"                  # 7 wrong number of fields
    b"+33600000004,\"multi\nline\",,free\n"  # 8-9 new
    b"nope,x,,\n"                          # 10 invalid phone
)


async def post_csv(client: httpx.AsyncClient, org: OrgHandle, data: bytes) -> httpx.Response:
    return await client.post(IMPORT, files={"file": ("contacts.csv", data, "text/csv")}, headers=org.auth)


async def contacts_by_phone(client: httpx.AsyncClient, org: OrgHandle) -> dict[str, dict[str, object]]:
    items = (await client.get("/api/v1/contacts?limit=500", headers=org.auth)).json()["items"]
    return {c["phone"]: c for c in items}


class TestImportContactsEndpoint:
    async def test_good_rows_land_and_each_bad_row_is_reported_by_line(
        self, client: httpx.AsyncClient, org: OrgHandle
    ) -> None:
        response = await post_csv(client, org, MIXED_CSV)
        assert response.status_code == 200, response.text
        result = response.json()
        assert (result["imported"], result["updated"], result["rejected_count"]) == (3, 1, 4)
        assert result["rejected"] == [
            {"line": 4, "reason": "invalid phone '123'"},
            {"line": 6, "reason": "phone is empty"},
            {"line": 7, "reason": "expected 4 fields, found 2"},
            {"line": 10, "reason": "invalid phone 'nope'"},
        ]
        contacts = await contacts_by_phone(client, org)
        assert set(contacts) == {"+33600000001", "+33600000002", "+33600000004"}
        ana = contacts["+33600000001"]
        assert (ana["name"], ana["tags"], ana["valued_tags"]) == ("Ana", ["extra", "new", "vip"], {"plan": "pro"})
        assert contacts["+33600000002"]["name"] == "Lima, Bob"
        assert contacts["+33600000004"]["name"] == "multi\nline"

    async def test_rows_upsert_existing_contacts_as_the_api_does(
        self, client: httpx.AsyncClient, org: OrgHandle
    ) -> None:
        await create_contact(client, org, phone="+33600000001", name="Old", tags=["a"], valued_tags={"plan": "x"})
        data = b"phone;name;tags;vt:plan;vt:city\n+33600000001;;b;;Lyon\n"
        result = (await post_csv(client, org, "\ufeff".encode() + data)).json()
        assert (result["imported"], result["updated"]) == (0, 1)
        contact = (await contacts_by_phone(client, org))["+33600000001"]
        assert (contact["name"], contact["tags"]) == ("Old", ["a", "b"])
        assert contact["valued_tags"] == {"city": "Lyon", "plan": "x"}

    async def test_unknown_columns_are_a_422_naming_them(self, client: httpx.AsyncClient, org: OrgHandle) -> None:
        response = await post_csv(client, org, b"phone,email\n+33600000001,a@b.c\n")
        assert response.status_code == 422
        assert "'email'" in response.json()["error"]["message"]
        assert (await contacts_by_phone(client, org)) == {}

    async def test_a_file_over_the_limit_is_413(
        self, client: httpx.AsyncClient, org: OrgHandle, settings: Settings
    ) -> None:
        settings.max_upload_bytes = 1000
        data = b"phone\n" + b"".join(b"%s\n" % fr_mobile(i).encode() for i in range(5000))
        response = await post_csv(client, org, data)
        assert response.status_code == 413
        assert response.json()["error"]["code"] == "file_too_large"

    async def test_missing_file_field_is_422(self, client: httpx.AsyncClient, org: OrgHandle) -> None:
        response = await client.post(IMPORT, data={"other": "x"}, files={"x": ("a", b"b")}, headers=org.auth)
        assert response.status_code == 422

    async def test_rejections_listed_are_capped_but_all_counted(
        self, client: httpx.AsyncClient, org: OrgHandle
    ) -> None:
        data = b"phone\n" + b"12\n" * 1005
        result = (await post_csv(client, org, data)).json()
        assert len(result["rejected"]) == 1000
        assert result["rejected_count"] == 1005
        assert result["rejected"][-1] == {"line": 1001, "reason": "invalid phone '12'"}

    async def test_valued_tags_are_overwritten_and_a_timezone_is_set_on_known_contacts(
        self, client: httpx.AsyncClient, org: OrgHandle
    ) -> None:
        await create_contact(client, org, phone="+33600000001", name="Old", timezone="Europe/Paris",
                             valued_tags={"plan": "free"})
        data = b"phone,name,timezone,vt:plan\n+33600000001,New,,pro\n+33600000002,,America/New_York,\n"
        result = (await post_csv(client, org, data)).json()
        assert (result["imported"], result["updated"]) == (1, 1)
        contacts = await contacts_by_phone(client, org)
        old = contacts["+33600000001"]
        assert (old["name"], old["timezone"], old["valued_tags"]) == ("New", "Europe/Paris", {"plan": "pro"})
        new = contacts["+33600000002"]
        assert (new["name"], new["timezone"], new["valued_tags"]) == (None, "America/New_York", {})

    async def test_a_phone_known_in_another_org_makes_a_contact_of_the_callers_own(
        self, client: httpx.AsyncClient, org: OrgHandle, other_org: OrgHandle
    ) -> None:
        await create_contact(client, other_org, phone="+33600000001", name="Theirs", tags=["t"],
                             valued_tags={"plan": "x"})
        result = (await post_csv(client, org, b"phone,name,tags,vt:plan\n+33600000001,Ours,t;u,y\n")).json()
        assert (result["imported"], result["updated"]) == (1, 0)
        ours = (await contacts_by_phone(client, org))["+33600000001"]
        assert (ours["name"], ours["tags"], ours["valued_tags"]) == ("Ours", ["t", "u"], {"plan": "y"})
        theirs = (await contacts_by_phone(client, other_org))["+33600000001"]
        assert (theirs["name"], theirs["tags"], theirs["valued_tags"]) == ("Theirs", ["t"], {"plan": "x"})
        assert {t["name"] for t in (await client.get("/api/v1/tags", headers=other_org.auth)).json()} == {"t"}

    async def test_import_lands_in_the_callers_org_only(
        self, client: httpx.AsyncClient, org: OrgHandle, other_org: OrgHandle
    ) -> None:
        await post_csv(client, org, b"phone,tags\n+33600000001,t\n")
        assert (await client.get("/api/v1/contacts", headers=other_org.headers(Role.viewer))).json()["items"] == []
        assert (await client.get("/api/v1/tags", headers=other_org.auth)).json() == []


class TestImportContacts:
    async def test_counts_across_batches_and_repeated_phones(self, database: Database, org: OrgHandle) -> None:
        phones = [fr_mobile(i) for i in range(10)] + [fr_mobile(0), fr_mobile(0), fr_mobile(9)]
        data = b"phone,tags\n" + b"".join(f"{p},t{i % 3}\n".encode() for i, p in enumerate(phones))
        seen: list[int] = []
        result = await import_contacts(
            database, org_id=org.id, stream=io.BytesIO(data), progress=seen.append, batch_rows=4
        )
        assert (result.imported, result.updated, result.rejected_count) == (10, 3, 0)
        assert seen == sorted(seen) and seen[-1] == len(data)
        again = await import_contacts(database, org_id=org.id, stream=io.BytesIO(data), batch_rows=5)
        assert (again.imported, again.updated) == (0, 13)


    async def test_a_phone_repeated_across_batches_merges_as_successive_upserts(
        self, client: httpx.AsyncClient, database: Database, org: OrgHandle
    ) -> None:
        data = (
            b"phone,name,tags,vt:plan,vt:city\n"
            b"+33600000001,Ana,a,free,Lyon\n"
            b"+33600000002,Bob,,,\n"
            b"33600000001,,b,pro,\n"       # same contact written differently, in the next batch
            b"+33600000001,Ana Lima,a;c,,\n"
        )
        result = await import_contacts(database, org_id=org.id, stream=io.BytesIO(data), batch_rows=2)
        assert (result.imported, result.updated, result.rejected_count) == (2, 2, 0)
        ana = (await contacts_by_phone(client, org))["+33600000001"]
        assert (ana["name"], ana["tags"]) == ("Ana Lima", ["a", "b", "c"])
        assert ana["valued_tags"] == {"city": "Lyon", "plan": "pro"}

    async def test_a_file_read_in_one_batch_or_many_gives_the_same_contacts(
        self, client: httpx.AsyncClient, database: Database, org: OrgHandle, other_org: OrgHandle
    ) -> None:
        lines = [f"{fr_mobile(i % 7)},Name {i},t{i % 3};t{i % 5},{i}\n" for i in range(40)]
        data = ("phone,name,tags,vt:n\n" + "".join(lines)).encode()
        one = await import_contacts(database, org_id=org.id, stream=io.BytesIO(data), batch_rows=1000)
        many = await import_contacts(database, org_id=other_org.id, stream=io.BytesIO(data), batch_rows=3)
        assert (one.imported, one.updated) == (many.imported, many.updated) == (7, 33)
        ours, theirs = await contacts_by_phone(client, org), await contacts_by_phone(client, other_org)
        fields = ("name", "tags", "valued_tags")
        assert {p: [c[f] for f in fields] for p, c in ours.items()} == {
            p: [c[f] for f in fields] for p, c in theirs.items()
        }
        assert ours[fr_mobile(0)]["name"] == "Name 35"


@pytest.mark.process
class TestContactsImportCommand:
    def test_cli_imports_a_file_and_prints_the_summary_and_rejects(
        self, tmp_path: Path, db_url: str, org: OrgHandle
    ) -> None:
        csv_file = tmp_path / "contacts.csv"
        csv_file.write_bytes(MIXED_CSV)
        env = {**os.environ, "HERALD_DATABASE_URL": db_url, "HERALD_VAR_DIR": str(tmp_path / "var")}
        done = subprocess.run(
            [sys.executable, "-m", "herald", "contacts", "import", str(csv_file), "--org", org.slug],
            env=env, capture_output=True, text=True, timeout=120,
        )
        assert done.returncode == 0, done.stderr
        lines = done.stdout.splitlines()
        assert lines[0] == "imported 3, updated 1, rejected 4, duplicates 1"
        assert "line 4: invalid phone '123'" in lines
        assert "line 5: duplicate of line 2 (imported over it: later rows win)" in lines
        assert "line 10: invalid phone 'nope'" in lines

    def test_cli_reports_an_unknown_org_and_exits_non_zero(
        self, tmp_path: Path, db_url: str, org: OrgHandle
    ) -> None:
        csv_file = tmp_path / "contacts.csv"
        csv_file.write_bytes(b"phone\n+33600000001\n")
        env = {**os.environ, "HERALD_DATABASE_URL": db_url, "HERALD_VAR_DIR": str(tmp_path / "var")}
        done = subprocess.run(
            [sys.executable, "-m", "herald", "contacts", "import", str(csv_file), "--org", "nope"],
            env=env, capture_output=True, text=True, timeout=120,
        )
        assert done.returncode == 1
        assert "no organization" in done.stderr
