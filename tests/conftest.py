"""Shared fixtures: every database test runs on SQLite, and again on PostgreSQL when
``HERALD_TEST_POSTGRES_URL`` is set. Each test gets a database of its own state: a fresh copy of a
migrated SQLite file, or the session's PostgreSQL database truncated before the test."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg
import pytest
from cryptography.fernet import Fernet
from fastapi import FastAPI
from sqlalchemy.engine import make_url

from herald.app import create_app
from herald.auth import service as auth_service
from herald.auth.principal import Role
from herald.config import Settings
from herald.kit import migrate
from herald.kit.db import Database
from herald.kit.outbound import OutboundPolicy
from herald.models import Base

POSTGRES_URL = os.environ.get("HERALD_TEST_POSTGRES_URL", "")
TEST_SECRET_KEY = "test-secret-key-" + "x" * 32
TEST_FERNET_KEY = Fernet.generate_key().decode()
# What the `settings` fixture allows: the simulator and the test bots listen on loopback.
LOOPBACK_ALLOWED = OutboundPolicy(allow_private_urls=True)

BACKENDS = [
    "sqlite",
    pytest.param(
        "postgres", marks=pytest.mark.skipif(not POSTGRES_URL, reason="HERALD_TEST_POSTGRES_URL is not set")
    ),
]


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "herald.db"
    migrate.upgrade(f"sqlite+aiosqlite:///{path}")
    return path


def _pg_admin_conninfo(url: str) -> str:
    u = make_url(url)
    return f"host={u.host or '127.0.0.1'} port={u.port or 5432} user={u.username or 'postgres'} dbname={u.database or 'postgres'}"


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A database of its own for this test run, migrated once, dropped at the end."""
    name = f"herald_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin = _pg_admin_conninfo(POSTGRES_URL)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = make_url(POSTGRES_URL).set(drivername="postgresql+psycopg", database=name).render_as_string(hide_password=False)
    migrate.upgrade(url)
    yield url
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _truncate_postgres(url: str) -> None:
    u = make_url(url)
    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with psycopg.connect(_pg_admin_conninfo(url).replace(f"dbname={make_url(POSTGRES_URL).database}", f"dbname={u.database}")) as conn:
        conn.execute(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path) -> str:
    if request.param == "sqlite":
        path = tmp_path / "herald.db"
        shutil.copyfile(sqlite_template, path)
        return f"sqlite+aiosqlite:///{path}"
    url: str = request.getfixturevalue("postgres_url")
    _truncate_postgres(url)
    return url


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    return Settings(
        var_dir=tmp_path / "var",
        database_url=db_url,
        secret_key=TEST_SECRET_KEY,
        encryption_keys=TEST_FERNET_KEY,
        embedded_worker=False,
        allow_private_urls=True,  # the simulator and the test bots listen on loopback
    ).resolved()


@pytest.fixture
async def database(db_url: str) -> AsyncIterator[Database]:
    db = Database.connect(db_url, pool_size=5)
    yield db
    await db.dispose()


@pytest.fixture
async def app(settings: Settings, database: Database) -> AsyncIterator[FastAPI]:
    application = create_app(settings, database)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://herald.test") as http:
        yield http


@dataclass
class OrgHandle:
    """An organization created for a test, with one API key per role."""

    id: int
    slug: str
    keys: dict[Role, str]

    def headers(self, role: Role = Role.admin) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[role]}"}

    @property
    def auth(self) -> dict[str, str]:
        return self.headers(Role.admin)


@pytest.fixture
def make_org(database: Database):  # type: ignore[no-untyped-def]
    async def make(name: str | None = None) -> OrgHandle:
        async with database.session() as session:
            org = await auth_service.create_org(session, name=name or f"Org {uuid.uuid4().hex[:8]}", secret_key=TEST_SECRET_KEY)
            keys = {}
            for role in Role:
                _, keys[role] = await auth_service.create_api_key(
                    session, org_id=org.id, role=role, name=role.value, secret_key=TEST_SECRET_KEY
                )
            return OrgHandle(id=org.id, slug=org.slug, keys=keys)

    return make


@pytest.fixture
async def org(make_org) -> OrgHandle:  # type: ignore[no-untyped-def]
    return await make_org("Acme")


@pytest.fixture
async def other_org(make_org) -> OrgHandle:  # type: ignore[no-untyped-def]
    return await make_org("Globex")
