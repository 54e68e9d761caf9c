"""The demo's database: settings under ./var/demo, a reset, the schema and the demo organization."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from herald.auth import service as auth_service
from herald.auth.principal import Role
from herald.config import Settings
from herald.kit import migrate
from herald.kit.db import Database

DEMO_EMAIL = "demo@herald.local"
DEMO_PASSWORD = "herald-demo"
DEMO_ORG = "Demo"
DEMO_SLUG = "demo"


def demo_settings(var_dir: Path) -> Settings:
    os.environ["HERALD_VAR_DIR"] = str(var_dir)
    os.environ.pop("HERALD_DATABASE_URL", None)
    return Settings(var_dir=var_dir, embedded_worker=True, log_level="WARNING", allow_private_urls=True).resolved()


def reset(var_dir: Path) -> None:
    """Forget the previous run: the database, its keys, reports and logs all live under ``var_dir``."""
    if var_dir.exists():
        shutil.rmtree(var_dir)


async def seed_organization(database: Database, settings: Settings) -> tuple[int, str]:
    """Creates the demo organization once; every run gets a fresh API key (keys are shown only once)."""
    from sqlalchemy import select

    from herald.models import Organization

    async with database.session() as session:
        org = (await session.execute(select(Organization).where(Organization.slug == DEMO_SLUG))).scalar_one_or_none()
        if org is None:
            org = await auth_service.create_org(session, name=DEMO_ORG, secret_key=settings.secret_key)
            await auth_service.create_user(
                session, org_id=org.id, email=DEMO_EMAIL, password=DEMO_PASSWORD, role=Role.admin
            )
        _, key = await auth_service.create_api_key(
            session, org_id=org.id, role=Role.admin, name="demo", secret_key=settings.secret_key
        )
        return org.id, key


def prepare(settings: Settings) -> None:
    migrate.upgrade(settings.database_url)
