"""Every query on inbox cases; all org-scoped."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Row, Select, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from herald.models import Contact, InboxCase

OPEN = "open"
CLOSED = "closed"


def _with_phone() -> Select[InboxCase, str | None]:
    return select(InboxCase, Contact.phone).join(Contact, Contact.id == InboxCase.contact_id)


async def case_by_id(session: AsyncSession, *, org_id: int, case_id: int) -> Row[InboxCase, str | None] | None:
    query = _with_phone().where(InboxCase.org_id == org_id, InboxCase.id == case_id)
    return (await session.execute(query)).first()


async def open_case_id(session: AsyncSession, *, contact_id: int) -> int | None:
    query = select(InboxCase.id).where(InboxCase.contact_id == contact_id, InboxCase.status == OPEN)
    return (await session.execute(query)).scalar_one_or_none()


async def close_case(session: AsyncSession, *, org_id: int, case_id: int, at: datetime) -> bool:
    """Close it if it is open: one conditional UPDATE, so two closes cannot both succeed."""
    result = await session.execute(
        update(InboxCase)
        .where(InboxCase.org_id == org_id, InboxCase.id == case_id, InboxCase.status == OPEN)
        .values(status=CLOSED, closed_at=at)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def list_cases(
    session: AsyncSession, *, org_id: int, status: str | None, contact_id: int | None, after_id: int, limit: int
) -> list[Row[InboxCase, str | None]]:
    query = _with_phone().where(InboxCase.org_id == org_id, InboxCase.id > after_id)
    if status is not None:
        query = query.where(InboxCase.status == status)
    if contact_id is not None:
        query = query.where(InboxCase.contact_id == contact_id)
    return list((await session.execute(query.order_by(InboxCase.id).limit(limit))).all())
