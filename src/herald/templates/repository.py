"""Every query on templates, scoped to one organization."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from herald.models import Template

_KEY = ("org_id", "waba_id", "name", "language")


async def upsert(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    """Insert or update rows keyed on (org, waba, name, language) in one statement.

    ON CONFLICT rather than read-then-write so two syncs of the same WABA cannot collide on the
    unique key. Both dialects spell it the same, but each needs its own `insert` construct.
    """
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(cast(Table, Template.__table__))
    updated = {column: statement.excluded[column] for column in rows[0] if column not in _KEY}
    await session.execute(statement.on_conflict_do_update(index_elements=list(_KEY), set_=updated), list(rows))


async def missing_since(session: AsyncSession, *, org_id: int, waba_id: str, synced_before: datetime) -> list[Template]:
    """Templates of the WABA that the sync at `synced_before` did not see and are not yet marked removed."""
    query = (
        select(Template)
        .where(
            Template.org_id == org_id,
            Template.waba_id == waba_id,
            Template.synced_at < synced_before,
            Template.removed_at.is_(None),
        )
        .order_by(Template.id)
    )
    return list((await session.execute(query)).scalars())


async def mark_removed(session: AsyncSession, *, org_id: int, template_ids: list[int], at: datetime, reason: str) -> None:
    if not template_ids:
        return
    await session.execute(
        update(Template)
        .where(Template.org_id == org_id, Template.id.in_(template_ids))
        .values(removed_at=at, usable=False, reason=reason)
        .execution_options(synchronize_session=False)
    )


async def list_page(
    session: AsyncSession,
    *,
    org_id: int,
    waba_id: str | None,
    usable: bool | None,
    include_removed: bool,
    after_id: int,
    limit: int,
) -> list[Template]:
    query = select(Template).where(Template.org_id == org_id, Template.id > after_id)
    if waba_id is not None:
        query = query.where(Template.waba_id == waba_id)
    if usable is not None:
        query = query.where(Template.usable.is_(usable))
    if not include_removed:
        query = query.where(Template.removed_at.is_(None))
    return list((await session.execute(query.order_by(Template.id).limit(limit))).scalars())


async def get(session: AsyncSession, *, org_id: int, template_id: int) -> Template | None:
    query = select(Template).where(Template.org_id == org_id, Template.id == template_id)
    return (await session.execute(query)).scalar_one_or_none()


async def by_key(session: AsyncSession, *, org_id: int, waba_id: str, name: str, language: str) -> Template | None:
    query = select(Template).where(
        Template.org_id == org_id, Template.waba_id == waba_id, Template.name == name, Template.language == language
    )
    return (await session.execute(query)).scalar_one_or_none()


async def by_waba_name_language(session: AsyncSession, *, waba_id: str, name: str, language: str) -> list[Template]:
    """Across organizations: a template status webhook names only the WABA (shared by whoever added it)."""
    query = select(Template).where(Template.waba_id == waba_id, Template.name == name, Template.language == language)
    return list((await session.execute(query)).scalars())
