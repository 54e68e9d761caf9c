"""Access can be taken away: roles, deactivation, deletion and passwords through the API, the CLI
and Settings; a session ends the moment its user loses access; a new secret key ends every session."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select
from typer.testing import CliRunner

from herald.app import create_app
from herald.auth.principal import Role
from herald.cli import app as cli_app
from herald.config import Settings, get_settings
from herald.kit.db import Database
from herald.models import User, WebSession
from tests.conftest import TEST_FERNET_KEY, TEST_SECRET_KEY, OrgHandle
from tests.web.helpers import PASSWORD, csrf_of, log_in, make_user, page_csrf

pytestmark = pytest.mark.slow


@dataclass
class Person:
    id: int
    email: str
    client: httpx.AsyncClient  # signed in as this user, with a cookie jar of its own


SignIn = Callable[..., Awaitable[Person]]


@pytest.fixture
async def sign_in(app: FastAPI, database: Database, org: OrgHandle) -> AsyncIterator[SignIn]:
    """``await sign_in(Role.editor)``: a new user of ``org`` (or ``org_id=``), signed in through the form."""
    clients: list[httpx.AsyncClient] = []

    async def make(role: Role, *, email: str | None = None, org_id: int | None = None) -> Person:
        email = await make_user(database, org_id=org_id or org.id, role=role,
                                email=email or f"{role.value}-{len(clients)}@acme.test")
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://herald.test")
        clients.append(client)
        assert (await log_in(client, email)).status_code == 303
        return Person(id=await user_id(database, email), email=email, client=client)

    yield make
    for client in clients:
        await client.aclose()


async def user_id(database: Database, email: str) -> int:
    async with database.read_session() as session:
        return int((await session.execute(select(User.id).where(User.email == email))).scalar_one())


async def sessions_of(database: Database, user: int) -> int:
    async with database.read_session() as session:
        stmt = select(func.count()).select_from(WebSession).where(WebSession.user_id == user)
        return int((await session.execute(stmt)).scalar_one())


async def signed_in(client: httpx.AsyncClient) -> bool:
    answer = await client.get("/ui/settings")
    if answer.status_code == 303:
        assert answer.headers["location"].startswith("/ui/login")
        return False
    assert answer.status_code == 200, answer.text
    return True


async def login_error(app: FastAPI, email: str, password: str = PASSWORD) -> tuple[int, str]:
    """A fresh browser's sign-in: the status and the error shown."""
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://herald.test") as client:
        answer = await log_in(client, email, password)
    if answer.status_code == 303:
        return 303, ""
    return answer.status_code, answer.text.split('role="alert">', 1)[1].split("<", 1)[0]


class TestApi:
    async def test_deactivating_ends_the_session_at_once_and_sign_in_fails_like_a_wrong_password(
        self, app: FastAPI, client: httpx.AsyncClient, database: Database, org: OrgHandle, sign_in: SignIn
    ) -> None:
        editor = await sign_in(Role.editor)
        assert await signed_in(editor.client)
        wrong_password = await login_error(app, editor.email, "not the password")

        answer = await client.patch(f"/api/v1/users/{editor.id}", json={"active": False}, headers=org.auth)
        assert answer.status_code == 200 and answer.json()["active"] is False
        assert await sessions_of(database, editor.id) == 0
        assert not await signed_in(editor.client)
        assert await login_error(app, editor.email) == wrong_password == (401, "Wrong email or password.")
        listed = (await client.get("/api/v1/users", headers=org.auth)).json()
        assert [u["active"] for u in listed if u["id"] == editor.id] == [False]

        answer = await client.patch(f"/api/v1/users/{editor.id}", json={"active": True}, headers=org.auth)
        assert answer.status_code == 200 and answer.json()["active"] is True
        assert (await login_error(app, editor.email))[0] == 303

    async def test_deleting_ends_the_session_at_once(
        self, app: FastAPI, client: httpx.AsyncClient, database: Database, org: OrgHandle, sign_in: SignIn
    ) -> None:
        viewer = await sign_in(Role.viewer)
        answer = await client.delete(f"/api/v1/users/{viewer.id}", headers=org.auth)
        assert answer.status_code == 204
        assert not await signed_in(viewer.client)
        assert await sessions_of(database, viewer.id) == 0
        assert viewer.id not in [u["id"] for u in (await client.get("/api/v1/users", headers=org.auth)).json()]
        assert await login_error(app, viewer.email) == (401, "Wrong email or password.")
        assert (await client.delete(f"/api/v1/users/{viewer.id}", headers=org.auth)).status_code == 404

    async def test_a_role_change_takes_effect_on_the_next_request(
        self, client: httpx.AsyncClient, org: OrgHandle, sign_in: SignIn
    ) -> None:
        await sign_in(Role.admin)  # another admin, so this one may be demoted
        admin = await sign_in(Role.admin)
        assert "Create API key" in (await admin.client.get("/ui/settings")).text
        token = await page_csrf(admin.client, "/ui/settings")

        answer = await client.patch(f"/api/v1/users/{admin.id}", json={"role": "viewer"}, headers=org.auth)
        assert answer.status_code == 200 and answer.json()["role"] == "viewer"
        page = await admin.client.get("/ui/settings")
        assert "managed by an admin" in page.text and "Create API key" not in page.text
        refused = await admin.client.post("/ui/settings/api-keys", data={"csrf_token": token, "name": "x"})
        assert refused.status_code == 403
        refused = await admin.client.post("/ui/bot-flows", data={"csrf_token": token, "name": "b"})
        assert refused.status_code == 403 and "viewer" in refused.text

    async def test_the_last_active_admin_cannot_be_demoted_deactivated_or_deleted(
        self, client: httpx.AsyncClient, database: Database, org: OrgHandle, sign_in: SignIn
    ) -> None:
        admin = await sign_in(Role.admin)
        other = await sign_in(Role.admin)
        deactivated = await client.patch(f"/api/v1/users/{other.id}", json={"active": False}, headers=org.auth)
        assert deactivated.status_code == 200  # an inactive admin does not count as one
        for method, body in (("PATCH", {"role": "editor"}), ("PATCH", {"active": False}),
                             ("PATCH", {"role": "viewer", "active": False}), ("DELETE", None)):
            answer = await client.request(method, f"/api/v1/users/{admin.id}", json=body, headers=org.auth)
            assert answer.status_code == 409, (method, body)
            error = answer.json()["error"]
            assert error["code"] == "last_admin" and "last active admin" in error["message"]
        assert await signed_in(admin.client)
        async with database.read_session() as session:
            row = (await session.execute(select(User.role, User.active).where(User.id == admin.id))).one()
        assert tuple(row) == ("admin", True)
        # Harmless changes of the last admin still go through.
        assert (await client.patch(f"/api/v1/users/{admin.id}", json={"role": "admin"}, headers=org.auth)).status_code == 200

        await client.patch(f"/api/v1/users/{other.id}", json={"active": True}, headers=org.auth)
        answer = await client.patch(f"/api/v1/users/{admin.id}", json={"role": "editor"}, headers=org.auth)
        assert answer.status_code == 200
        last = await client.patch(f"/api/v1/users/{other.id}", json={"role": "editor"}, headers=org.auth)
        assert last.status_code == 409

    async def test_only_admins_manage_users_and_another_orgs_users_are_not_found(
        self, client: httpx.AsyncClient, database: Database, org: OrgHandle, other_org: OrgHandle, sign_in: SignIn
    ) -> None:
        mine = await sign_in(Role.editor)
        theirs = await sign_in(Role.editor, email="theirs@globex.test", org_id=other_org.id)
        for role in (Role.editor, Role.viewer):
            patch = await client.patch(f"/api/v1/users/{mine.id}", json={"active": False}, headers=org.headers(role))
            delete = await client.delete(f"/api/v1/users/{mine.id}", headers=org.headers(role))
            assert patch.status_code == delete.status_code == 403
            assert patch.json()["error"]["code"] == "admin_only"
        patch = await client.patch(f"/api/v1/users/{theirs.id}", json={"active": False}, headers=org.auth)
        delete = await client.delete(f"/api/v1/users/{theirs.id}", headers=org.auth)
        assert patch.status_code == delete.status_code == 404
        assert patch.json()["error"]["code"] == "not_found"
        assert await signed_in(mine.client) and await signed_in(theirs.client)
        assert await sessions_of(database, theirs.id) == 1

    async def test_an_admins_password_reset_replaces_the_password_and_ends_the_sessions(
        self, app: FastAPI, client: httpx.AsyncClient, org: OrgHandle, sign_in: SignIn
    ) -> None:
        editor = await sign_in(Role.editor)
        answer = await client.patch(f"/api/v1/users/{editor.id}", json={"password": "a brand new one"}, headers=org.auth)
        assert answer.status_code == 200 and "password" not in answer.text
        assert not await signed_in(editor.client)
        assert (await login_error(app, editor.email))[0] == 401
        assert (await login_error(app, editor.email, "a brand new one"))[0] == 303

    async def test_bad_input_is_422_naming_the_field(
        self, client: httpx.AsyncClient, org: OrgHandle, sign_in: SignIn
    ) -> None:
        editor = await sign_in(Role.editor)
        for body, field in (({"password": "short"}, "password"), ({"role": "owner"}, "role"),
                            ({"activ": False}, "activ"), ({"active": "maybe"}, "active")):
            answer = await client.patch(f"/api/v1/users/{editor.id}", json=body, headers=org.auth)
            assert answer.status_code == 422, body
            assert field in [d["field"] for d in answer.json()["error"]["details"]], body
        assert await signed_in(editor.client)

    async def test_api_keys_belong_to_the_organization_and_survive_their_creators_deactivation(
        self, client: httpx.AsyncClient, org: OrgHandle, sign_in: SignIn
    ) -> None:
        await sign_in(Role.admin)
        admin = await sign_in(Role.admin)
        token = await page_csrf(admin.client, "/ui/settings")
        created = await admin.client.post("/ui/settings/api-keys", data={"csrf_token": token, "name": "ci"})
        key = created.text.split('id="new-api-key">', 1)[1].split("<", 1)[0]
        assert (await client.patch(f"/api/v1/users/{admin.id}", json={"active": False}, headers=org.auth)).status_code == 200
        assert (await client.get("/api/v1/me", headers={"Authorization": f"Bearer {key}"})).status_code == 200


class TestCli:
    async def test_herald_user_deactivate_ends_the_sessions_and_activate_undoes_it(
        self, app: FastAPI, db_url: str, database: Database, sign_in: SignIn, tmp_path, monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        admin = await sign_in(Role.admin)
        editor = await sign_in(Role.editor)
        monkeypatch.setenv("HERALD_DATABASE_URL", db_url)
        monkeypatch.setenv("HERALD_VAR_DIR", str(tmp_path / "cli-var"))
        monkeypatch.setenv("HERALD_SECRET_KEY", TEST_SECRET_KEY)
        monkeypatch.setenv("HERALD_ENCRYPTION_KEYS", TEST_FERNET_KEY)

        async def herald(*args: str):  # type: ignore[no-untyped-def]
            get_settings.cache_clear()
            try:
                return await asyncio.to_thread(CliRunner().invoke, cli_app, list(args))
            finally:
                get_settings.cache_clear()

        result = await herald("user", "deactivate", editor.email.upper())
        assert result.exit_code == 0, result.output
        assert "deactivated" in result.output
        assert not await signed_in(editor.client)
        assert await sessions_of(database, editor.id) == 0
        assert (await login_error(app, editor.email))[0] == 401

        result = await herald("user", "activate", editor.email)
        assert result.exit_code == 0, result.output
        assert (await login_error(app, editor.email))[0] == 303

        result = await herald("user", "deactivate", "nobody@acme.test")
        assert result.exit_code == 1 and "no user with email nobody@acme.test" in result.output
        result = await herald("user", "deactivate", admin.email)
        assert result.exit_code == 1 and "last active admin" in result.output
        assert await signed_in(admin.client)


class TestSettingsPage:
    async def test_an_admin_deactivates_reactivates_and_deletes_users(
        self, app: FastAPI, database: Database, sign_in: SignIn
    ) -> None:
        admin = await sign_in(Role.admin)
        editor = await sign_in(Role.editor)
        page = await admin.client.get("/ui/settings")
        token = csrf_of(page.text)
        assert f"/ui/settings/users/{editor.id}/deactivate" in page.text

        answer = await admin.client.post(f"/ui/settings/users/{editor.id}/deactivate", data={"csrf_token": token})
        assert (answer.status_code, answer.headers["location"]) == (303, "/ui/settings")
        assert not await signed_in(editor.client)
        page = await admin.client.get("/ui/settings")
        assert "deactivated" in page.text and f"/ui/settings/users/{editor.id}/reactivate" in page.text
        assert await login_error(app, editor.email) == (401, "Wrong email or password.")

        answer = await admin.client.post(f"/ui/settings/users/{editor.id}/reactivate", data={"csrf_token": token})
        assert answer.status_code == 303
        assert (await login_error(app, editor.email))[0] == 303
        assert (await log_in(editor.client, editor.email)).status_code == 303 and await signed_in(editor.client)

        answer = await admin.client.post(f"/ui/settings/users/{editor.id}/delete", data={"csrf_token": token})
        assert answer.status_code == 303
        assert not await signed_in(editor.client)
        assert editor.email not in (await admin.client.get("/ui/settings")).text
        assert await sessions_of(database, editor.id) == 0

    async def test_an_admin_changes_a_role_and_it_applies_at_once(self, sign_in: SignIn) -> None:
        admin = await sign_in(Role.admin)
        editor = await sign_in(Role.editor)
        token = await page_csrf(admin.client, "/ui/settings")
        editor_token = await page_csrf(editor.client, "/ui/bot-flows")
        answer = await admin.client.post(f"/ui/settings/users/{editor.id}/role",
                                         data={"csrf_token": token, "role": "viewer"})
        assert answer.status_code == 303
        refused = await editor.client.post("/ui/bot-flows", data={"csrf_token": editor_token, "name": "b"})
        assert refused.status_code == 403 and "viewer" in refused.text
        answer = await admin.client.post(f"/ui/settings/users/{editor.id}/role",
                                         data={"csrf_token": token, "role": "admin"})
        assert answer.status_code == 303
        assert "Create API key" in (await editor.client.get("/ui/settings")).text

    async def test_the_last_admin_cannot_demote_deactivate_or_delete_themselves(self, sign_in: SignIn) -> None:
        admin = await sign_in(Role.admin)
        token = await page_csrf(admin.client, "/ui/settings")
        for action, data in (("role", {"role": "editor"}), ("deactivate", {}), ("delete", {})):
            answer = await admin.client.post(f"/ui/settings/users/{admin.id}/{action}", data={"csrf_token": token, **data})
            assert answer.status_code == 409, action
            assert "last active admin" in answer.text, action
        assert "Create API key" in (await admin.client.get("/ui/settings")).text

    async def test_an_admin_who_deactivates_themselves_is_signed_out_when_another_admin_remains(
        self, sign_in: SignIn
    ) -> None:
        await sign_in(Role.admin)
        admin = await sign_in(Role.admin)
        token = await page_csrf(admin.client, "/ui/settings")
        answer = await admin.client.post(f"/ui/settings/users/{admin.id}/deactivate", data={"csrf_token": token})
        assert (answer.status_code, answer.headers["location"]) == (303, "/ui/login")
        assert not await signed_in(admin.client)

    async def test_editors_and_viewers_cannot_manage_users(self, database: Database, sign_in: SignIn) -> None:
        target = await sign_in(Role.viewer)
        for role in (Role.editor, Role.viewer):
            person = await sign_in(role)
            token = await page_csrf(person.client, "/ui/settings")
            for action, data in (("role", {"role": "admin"}), ("deactivate", {}), ("delete", {})):
                answer = await person.client.post(f"/ui/settings/users/{target.id}/{action}",
                                                  data={"csrf_token": token, **data})
                assert answer.status_code == 403, (role, action)
        assert await signed_in(target.client)
        async with database.read_session() as session:
            assert (await session.execute(select(User.role).where(User.id == target.id))).scalar_one() == "viewer"

    async def test_another_orgs_user_is_not_found(self, other_org: OrgHandle, sign_in: SignIn) -> None:
        admin = await sign_in(Role.admin)
        mine = await sign_in(Role.editor)
        theirs = await sign_in(Role.admin, email="admin@globex.test", org_id=other_org.id)
        token = await page_csrf(admin.client, "/ui/settings")
        for action in ("deactivate", "delete"):
            answer = await admin.client.post(f"/ui/settings/users/{theirs.id}/{action}", data={"csrf_token": token})
            assert answer.status_code == 404 and "User not found" in answer.text, action
        assert await signed_in(theirs.client)
        answer = await admin.client.post(f"/ui/settings/users/{mine.id}/deactivate", data={"csrf_token": token})
        assert answer.status_code == 303 and not await signed_in(mine.client)

    async def test_changing_my_password_ends_my_other_sessions_and_keeps_this_one(
        self, app: FastAPI, sign_in: SignIn
    ) -> None:
        viewer = await sign_in(Role.viewer)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://herald.test") as laptop:
            assert (await log_in(laptop, viewer.email)).status_code == 303
            token = await page_csrf(viewer.client, "/ui/settings")
            form = {"csrf_token": token, "current_password": PASSWORD, "new_password": "my new password",
                    "new_password_again": "my new password"}

            wrong = await viewer.client.post("/ui/settings/password", data={**form, "current_password": "guess"})
            assert wrong.status_code == 422 and "The current password is wrong" in wrong.text
            differ = await viewer.client.post("/ui/settings/password", data={**form, "new_password_again": "other one"})
            assert differ.status_code == 422 and "The two new passwords differ" in differ.text
            short = await viewer.client.post("/ui/settings/password",
                                             data={**form, "new_password": "short", "new_password_again": "short"})
            assert short.status_code == 422 and "at least 8 characters" in short.text
            assert await signed_in(laptop)

            answer = await viewer.client.post("/ui/settings/password", data=form)
            assert (answer.status_code, answer.headers["location"]) == (303, "/ui/settings")
            assert await signed_in(viewer.client)
            assert not await signed_in(laptop)
        assert (await login_error(app, viewer.email))[0] == 401
        assert (await login_error(app, viewer.email, "my new password"))[0] == 303

    async def test_guessing_the_current_password_is_throttled_like_sign_in(self, sign_in: SignIn) -> None:
        editor = await sign_in(Role.editor)
        token = await page_csrf(editor.client, "/ui/settings")
        form = {"csrf_token": token, "current_password": "guess", "new_password": "my new password",
                "new_password_again": "my new password"}
        for _ in range(5):
            assert (await editor.client.post("/ui/settings/password", data=form)).status_code == 422
        answer = await editor.client.post("/ui/settings/password", data={**form, "current_password": PASSWORD})
        assert answer.status_code == 429 and int(answer.headers["retry-after"]) > 0
        assert "Too many failed sign-ins" in answer.text


class TestSecretKey:
    async def test_a_new_secret_key_ends_every_session(
        self, app: FastAPI, settings: Settings, database: Database, sign_in: SignIn
    ) -> None:
        editor = await sign_in(Role.editor)
        admin = await sign_in(Role.admin)
        rotated = create_app(settings.model_copy(update={"secret_key": "a-brand-new-secret-key-" + "y" * 32}), database)
        async with rotated.router.lifespan_context(rotated):
            for person in (editor, admin):
                cookie = person.client.cookies["herald_session"]
                transport = httpx.ASGITransport(app=rotated)
                async with httpx.AsyncClient(transport=transport, base_url="http://herald.test") as after:
                    after.cookies.set("herald_session", cookie)
                    assert not await signed_in(after)
            # Signing in again under the new key works.
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=rotated), base_url="http://herald.test") as again:
                assert (await log_in(again, editor.email)).status_code == 303 and await signed_in(again)
        assert await signed_in(editor.client)  # the same cookie under the old key: the key is what ended it
