"""Security headers on every answer (issue 17, item 1): a Content-Security-Policy without inline script
on the UI, nosniff, no framing, same-origin referrers; FastAPI's API explorers under a policy of their
own. And the templates hold nothing that policy would refuse (inline script, handlers, styles)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from herald.auth.principal import Role
from herald.kit.db import Database
from tests.conftest import OrgHandle
from tests.web.helpers import log_in, make_user

UI_POLICY = {
    "default-src": ["'self'"],
    "script-src": ["'self'"],
    "style-src": ["'self'"],
    "img-src": ["'self'", "data:"],
    "connect-src": ["'self'"],
    "frame-ancestors": ["'none'"],
    "base-uri": ["'self'"],
    "form-action": ["'self'"],
    "object-src": ["'none'"],
}
OTHER_HEADERS = {"x-content-type-options": "nosniff", "x-frame-options": "DENY", "referrer-policy": "same-origin"}
UI_PAGES = ["/ui/campaigns", "/ui/campaigns?kind=test", "/ui/campaigns/new", "/ui/contacts", "/ui/templates",
            "/ui/numbers", "/ui/bot-flows", "/ui/settings"]
TEMPLATES = Path(__file__).resolve().parents[2] / "src" / "herald" / "web" / "templates"


def policy(answer: httpx.Response) -> dict[str, list[str]]:
    header = answer.headers.get("content-security-policy")
    assert header, f"{answer.request.url} has no Content-Security-Policy"
    directives = [part.split() for part in header.split(";") if part.strip()]
    return {d[0]: d[1:] for d in directives}


def assert_secured(answer: httpx.Response) -> None:
    assert policy(answer) == UI_POLICY, answer.request.url
    for name, value in OTHER_HEADERS.items():
        assert answer.headers.get(name) == value, (answer.request.url, name)


@pytest.fixture
async def admin(app: FastAPI, database: Database, org: OrgHandle) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://herald.test") as client:
        assert (await log_in(client, await make_user(database, org_id=org.id, role=Role.admin))).status_code == 303
        yield client


class TestHeaders:
    async def test_every_ui_page(self, admin: httpx.AsyncClient) -> None:
        for path in UI_PAGES:
            answer = await admin.get(path)
            assert answer.status_code == 200, path
            assert_secured(answer)

    async def test_the_login_page_redirects_and_static_files(self, client: httpx.AsyncClient) -> None:
        for path, status in (("/ui/login", 200), ("/ui/campaigns", 303), ("/", 303), ("/ui/static/app.js", 200),
                             ("/ui/static/stats.js", 200), ("/ui/static/app.css", 200)):
            answer = await client.get(path)
            assert answer.status_code == status, path
            assert_secured(answer)

    async def test_error_pages(self, app: FastAPI, admin: httpx.AsyncClient, database: Database,
                               org: OrgHandle) -> None:
        missing = await admin.get("/ui/contacts/999999")
        assert missing.status_code == 404 and "text/html" in missing.headers["content-type"]
        assert_secured(missing)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://herald.test") as viewer:
            await log_in(viewer, await make_user(database, org_id=org.id, role=Role.viewer))
            denied = await viewer.post("/ui/contacts/1", data={"csrf_token": "forged"})
            assert denied.status_code == 403 and "text/html" in denied.headers["content-type"]
            assert_secured(denied)
        assert_secured(await admin.get("/no/such/page"))

    async def test_api_routes(self, client: httpx.AsyncClient, org: OrgHandle) -> None:
        listed = await client.get("/api/v1/contacts", headers=org.auth)
        assert listed.status_code == 200
        assert_secured(listed)
        refused = await client.get("/api/v1/contacts")
        assert refused.status_code == 401
        assert_secured(refused)
        invalid = await client.post("/api/v1/contacts", json={"phone": "nope"}, headers=org.auth)
        assert invalid.status_code == 422
        assert_secured(invalid)
        assert_secured(await client.get("/openapi.json"))
        assert_secured(await client.get("/healthz"))

    async def test_an_unexpected_error(self, app: FastAPI) -> None:
        async def boom() -> None:
            raise RuntimeError("boom")

        app.add_api_route("/ui/boom-for-a-test", boom)
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://herald.test") as client:
            answer = await client.get("/ui/boom-for-a-test")
        assert answer.status_code == 500 and answer.json()["error"]["code"] == "internal_error"
        assert_secured(answer)

    async def test_the_api_explorers_have_their_own_policy(self, client: httpx.AsyncClient) -> None:
        for path in ("/docs", "/redoc", "/docs/oauth2-redirect"):
            answer = await client.get(path)
            assert answer.status_code == 200, path
            directives = policy(answer)
            # FastAPI's pages: an inline script and assets from jsDelivr; still no framing, no plugins,
            # no other base, and requests only to Herald.
            assert "https://cdn.jsdelivr.net" in directives["script-src"]
            assert directives["frame-ancestors"] == ["'none'"] and directives["object-src"] == ["'none'"]
            assert directives["connect-src"] == ["'self'"] and directives["base-uri"] == ["'self'"]
            for name, value in OTHER_HEADERS.items():
                assert answer.headers.get(name) == value, (path, name)


# What the UI's policy refuses, as it would be written in a template.
INLINE = {
    "inline script": re.compile(r"<script\b(?![^>]*\bsrc=)(?![^>]*type=\"application/json\")[^>]*>", re.I),
    "event handler attribute": re.compile(r"\son[a-z]+\s*=", re.I),
    "htmx hx-on attribute": re.compile(r"\s(?:data-)?hx-on", re.I),
    "style attribute": re.compile(r"\sstyle\s*=", re.I),
    "style element": re.compile(r"<style\b", re.I),
    "javascript: URL": re.compile(r"javascript:", re.I),
    "js: value of htmx": re.compile(r"hx-[a-z-]+=['\"]\s*js:", re.I),
}

JINJA_COMMENT = re.compile(r"\{#.*?#\}", re.S)


def test_templates_hold_nothing_the_policy_refuses() -> None:
    found = []
    for path in sorted(TEMPLATES.rglob("*.html")):
        text = JINJA_COMMENT.sub("", path.read_text())
        for what, pattern in INLINE.items():
            found += [f"{path.relative_to(TEMPLATES)}: {what}: {m.group(0)!r}" for m in pattern.finditer(text)]
    assert found == []
    assert len(list(TEMPLATES.rglob("*.html"))) > 20  # the scan saw the templates
