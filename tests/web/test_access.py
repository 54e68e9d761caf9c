"""Who may do what in the UI: sign-in, sessions, CSRF on every write, roles, and another org's data."""

from __future__ import annotations

from datetime import timedelta
from uuid import uuid4

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select, update

from herald.auth.principal import Role
from herald.campaigns import service as campaign_service
from herald.campaigns.schemas import CampaignCreate
from herald.kit.db import Database
from herald.kit.types import utcnow
from herald.models import Campaign, WebSession
from tests.conftest import OrgHandle
from tests.factories import make_world
from tests.web.conftest import Browser
from tests.web.helpers import PASSWORD, csrf_of, log_in, make_user, page_csrf


async def ready_campaign(database: Database, org_id: int, name: str = "Spring") -> int:
    """A complete campaign (the list re-checks readiness: a row merely marked ready would show as Draft)."""
    world = await make_world(database, org_id, waba_id=f"waba-{uuid4().hex[:8]}")
    async with database.session() as session:
        campaign = await campaign_service.create_campaign(
            session, org_id=org_id, data=CampaignCreate.model_validate(world.campaign(name=name)))
        assert campaign.status == "ready"
        return campaign.id


async def status_of(database: Database, campaign_id: int) -> str:
    async with database.read_session() as session:
        return str((await session.execute(select(Campaign.status).where(Campaign.id == campaign_id))).scalar_one())


class TestSignIn:
    async def test_pages_redirect_to_login_and_back_after_it(self, client: httpx.AsyncClient, database: Database,
                                                              org: OrgHandle) -> None:
        answer = await client.get("/ui/contacts?q=ada")
        assert answer.status_code == 303
        assert answer.headers["location"] == "/ui/login?next=%2Fui%2Fcontacts%3Fq%3Dada"
        assert (await client.get("/")).headers["location"] == "/ui/login"
        email = await make_user(database, org_id=org.id, role=Role.editor)
        form = await client.get("/ui/login?next=/ui/contacts")
        answer = await client.post("/ui/login", data={"email": email, "password": PASSWORD, "next": "/ui/contacts",
                                                      "csrf_token": csrf_of(form.text)})
        assert (answer.status_code, answer.headers["location"]) == (303, "/ui/contacts")
        assert (await client.get("/")).headers["location"] == "/ui/campaigns"

    async def test_session_cookie_holds_a_random_token_httponly_samesite_lax(
        self, client: httpx.AsyncClient, database: Database, org: OrgHandle
    ) -> None:
        email = await make_user(database, org_id=org.id, role=Role.admin)
        answer = await log_in(client, email)
        cookie = next(c for c in answer.headers.get_list("set-cookie") if c.startswith("herald_session="))
        assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Secure" not in cookie
        token = cookie.split(";")[0].split("=", 1)[1]
        async with database.read_session() as session:
            stored = (await session.execute(select(WebSession.id))).scalars().all()
        assert len(stored) == 1 and token not in stored  # the row is keyed by the token's hash

    async def test_next_never_leaves_herald(self, client: httpx.AsyncClient, database: Database, org: OrgHandle) -> None:
        email = await make_user(database, org_id=org.id, role=Role.admin)
        form = await client.get("/ui/login")
        answer = await client.post("/ui/login", data={"email": email, "password": PASSWORD, "next": "https://evil.test/",
                                                      "csrf_token": csrf_of(form.text)})
        assert answer.headers["location"] == "/ui/campaigns"

    async def test_login_form_without_its_token_is_refused(self, client: httpx.AsyncClient, database: Database,
                                                           org: OrgHandle) -> None:
        email = await make_user(database, org_id=org.id, role=Role.admin)
        answer = await client.post("/ui/login", data={"email": email, "password": PASSWORD, "csrf_token": "forged"})
        assert answer.status_code == 403 and "herald_session" not in answer.headers.get("set-cookie", "")

    @pytest.mark.slow
    async def test_five_failures_throttle_that_email_from_this_address_with_retry_after(
        self, client: httpx.AsyncClient, database: Database, org: OrgHandle
    ) -> None:
        # More in tests/security/test_login_throttle.py (other addresses, unknown emails, timing).
        email = await make_user(database, org_id=org.id, role=Role.admin)
        for _ in range(5):
            answer = await log_in(client, email, "wrong password")
            assert answer.status_code == 401 and "Wrong email or password" in answer.text
        throttled = await log_in(client, email)  # the right password, but too many failures
        assert throttled.status_code == 429 and 200 < int(throttled.headers["retry-after"]) <= 300
        assert "Try again in 5 minutes" in throttled.text
        assert "herald_session" not in throttled.headers.get("set-cookie", "")

    async def test_logout_ends_the_session_on_the_server(self, browser: Browser) -> None:
        client = await browser(Role.editor)
        token = await page_csrf(client)
        cookie = client.cookies["herald_session"]
        answer = await client.post("/ui/logout", data={"csrf_token": token})
        assert (answer.status_code, answer.headers["location"]) == (303, "/ui/login")
        client.cookies.set("herald_session", cookie)
        assert (await client.get("/ui/campaigns")).status_code == 303

    async def test_expired_session_signs_out(self, browser: Browser, database: Database) -> None:
        client = await browser(Role.admin)
        async with database.session() as session:
            await session.execute(update(WebSession).values(expires_at=utcnow() - timedelta(seconds=1)))
        assert (await client.get("/ui/campaigns")).status_code == 303

    async def test_secure_cookies_setting_marks_the_cookies_secure(
        self, app: FastAPI, database: Database, org: OrgHandle
    ) -> None:
        app.state.settings.secure_cookies = True
        email = await make_user(database, org_id=org.id, role=Role.admin)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="https://herald.test") as client:
            answer = await log_in(client, email)
        cookie = next(c for c in answer.headers.get_list("set-cookie") if c.startswith("herald_session="))
        assert "Secure" in cookie


class TestCsrf:
    async def test_write_without_token_or_with_another_sessions_token_is_403(
        self, browser: Browser, database: Database, org: OrgHandle
    ) -> None:
        editor, other = await browser(Role.editor), await browser(Role.editor)
        campaign_id = await ready_campaign(database, org.id)
        assert (await editor.post(f"/ui/campaigns/{campaign_id}/delete")).status_code == 403
        foreign = await page_csrf(other)
        answer = await editor.post(f"/ui/campaigns/{campaign_id}/delete", data={"csrf_token": foreign})
        assert answer.status_code == 403 and "expired or did not come from Herald" in answer.text
        answer = await editor.post(f"/ui/campaigns/{campaign_id}/delete", headers={"X-CSRF-Token": "nope"})
        assert answer.status_code == 403
        assert await status_of(database, campaign_id) == "ready"

    async def test_token_as_field_or_htmx_header_is_accepted(self, browser: Browser, database: Database,
                                                             org: OrgHandle) -> None:
        editor = await browser(Role.editor)
        token = await page_csrf(editor)
        first, second = await ready_campaign(database, org.id, "A"), await ready_campaign(database, org.id, "B")
        answer = await editor.post(f"/ui/campaigns/{first}/delete", data={"csrf_token": token})
        assert answer.status_code == 303
        answer = await editor.post(f"/ui/campaigns/{second}/delete", headers={"X-CSRF-Token": token, "HX-Request": "true"})
        assert answer.status_code == 204 and answer.headers["HX-Redirect"] == "/ui/campaigns"
        async with database.read_session() as session:
            assert (await session.execute(select(Campaign.id))).first() is None

    async def test_every_page_form_carries_the_token(self, browser: Browser) -> None:
        admin = await browser(Role.admin)
        for path in ("/ui/campaigns", "/ui/contacts", "/ui/templates", "/ui/numbers", "/ui/bot-flows",
                     "/ui/settings", "/ui/campaigns/new"):
            html = (await admin.get(path)).text
            forms = html.count('method="post"')
            assert forms and html.count('name="csrf_token"') >= forms, path


class TestRoles:
    async def test_viewer_cannot_launch_and_sees_no_write_buttons(self, browser: Browser, database: Database,
                                                                  org: OrgHandle) -> None:
        viewer = await browser(Role.viewer)
        campaign_id = await ready_campaign(database, org.id)
        page = await viewer.get("/ui/campaigns")
        assert page.status_code == 200 and "Spring" in page.text
        for label in ("Start now", "New campaign", "Delete", "Duplicate", ">Schedule<"):
            assert label not in page.text
        token = csrf_of(page.text)
        for action in ("start", "delete", "duplicate", "pause", "end"):
            answer = await viewer.post(f"/ui/campaigns/{campaign_id}/{action}", data={"csrf_token": token})
            assert answer.status_code == 403 and "viewer" in answer.text, action
        assert await status_of(database, campaign_id) == "ready"

    async def test_viewer_cannot_write_anywhere(self, browser: Browser) -> None:
        viewer = await browser(Role.viewer)
        token = await page_csrf(viewer)
        for path, data in (("/ui/campaigns/new", {"name": "x"}), ("/ui/bot-flows", {"name": "b"}),
                           ("/ui/numbers", {"display_phone_number": "1"}), ("/ui/templates/sync", {}),
                           ("/ui/contacts/import", {}), ("/ui/settings/api-keys", {"name": "k"})):
            answer = await viewer.post(path, data={"csrf_token": token, **data})
            assert answer.status_code == 403, path

    async def test_only_admins_manage_keys_and_users(self, browser: Browser) -> None:
        editor, admin = await browser(Role.editor), await browser(Role.admin)
        page = await editor.get("/ui/settings")
        assert "managed by an admin" in page.text and "Create API key" not in page.text
        answer = await editor.post("/ui/settings/users", data={"csrf_token": csrf_of(page.text), "email": "e@x.test",
                                                               "password": "longenough"})
        assert answer.status_code == 403
        token = await page_csrf(admin, "/ui/settings")
        created = await admin.post("/ui/settings/api-keys", data={"csrf_token": token, "name": "ci", "role": "viewer"})
        assert created.status_code == 200 and 'id="new-api-key">hrld_' in created.text
        key = created.text.split('id="new-api-key">', 1)[1].split("<", 1)[0]
        assert (await admin.get("/api/v1/me", headers={"Authorization": f"Bearer {key}"})).json()["role"] == "viewer"

    async def test_another_orgs_campaign_is_not_found(self, browser: Browser, database: Database,
                                                      other_org: OrgHandle) -> None:
        admin = await browser(Role.admin)
        theirs = await ready_campaign(database, other_org.id)
        for path in (f"/ui/campaigns/{theirs}/edit/review", f"/ui/campaigns/{theirs}/stats",
                     f"/ui/campaigns/{theirs}/report.csv", f"/ui/campaigns/{theirs}/events"):
            answer = await admin.get(path)
            assert answer.status_code == 404 and "text/html" in answer.headers["content-type"], path
        token = await page_csrf(admin)
        refused = await admin.post(f"/ui/campaigns/{theirs}/start", data={"csrf_token": token})
        assert refused.status_code == 303 and "Campaign%20not%20found" in refused.headers["set-cookie"]
        assert await status_of(database, theirs) == "ready"
        # The API keeps its JSON errors.
        api = await admin.get(f"/api/v1/campaigns/{theirs}", headers={"Authorization": "Bearer wrong"})
        assert api.status_code == 401 and api.json()["error"]["code"] == "invalid_api_key"


class TestWithoutVendorFiles:
    async def test_pages_still_render_with_a_visible_note(self, browser: Browser, monkeypatch) -> None:  # type: ignore[no-untyped-def]
        from herald.web import deps

        monkeypatch.setattr(deps, "VENDOR_FILES", ("htmx.min.js", "not-installed.js"))
        admin = await browser(Role.admin)
        page = await admin.get("/ui/campaigns")
        assert page.status_code == 200 and "Front-end libraries missing (not-installed.js)" in page.text
        assert "make install" in page.text
