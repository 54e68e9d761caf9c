"""Signing in through the login form and reading the CSRF token of a page, as a browser would."""

from __future__ import annotations

import re

import httpx

from herald.auth import service as auth_service
from herald.auth.principal import Role
from herald.kit.db import Database

PASSWORD = "correct horse battery"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(html: str) -> str:
    match = _CSRF.search(html)
    assert match, "the page has no CSRF field"
    return match.group(1)


async def make_user(database: Database, *, org_id: int, role: Role, email: str | None = None) -> str:
    email = email or f"{role.value}@acme.test"
    async with database.session() as session:
        await auth_service.create_user(session, org_id=org_id, email=email, password=PASSWORD, role=role)
    return email


async def log_in(client: httpx.AsyncClient, email: str, password: str = PASSWORD) -> httpx.Response:
    page = await client.get("/ui/login")
    return await client.post("/ui/login", data={"email": email, "password": password, "csrf_token": csrf_of(page.text)})


async def page_csrf(client: httpx.AsyncClient, path: str = "/ui/campaigns") -> str:
    answer = await client.get(path)
    assert answer.status_code == 200, answer.text
    return csrf_of(answer.text)
