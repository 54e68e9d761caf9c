"""Inbox cases: a contact with an open case is being attended by an agent (campaigns skip them)."""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from herald.contacts import service as contact_service
from herald.inbox import repository
from herald.inbox.schemas import CaseCreate, CaseOut, CaseStatus
from herald.kit.errors import Conflict, NotFound
from herald.kit.pagination import Page, clamp_limit, decode_cursor, encode_cursor
from herald.kit.types import utcnow
from herald.models import InboxCase


def _case_out(case: InboxCase, phone: str | None) -> CaseOut:
    return CaseOut(
        id=case.id, contact_id=case.contact_id, phone=phone, status=CaseStatus(case.status),
        subject=case.subject, created_at=case.created_at, closed_at=case.closed_at,
    )


def _already_open(contact_id: int, case_id: int | None) -> Conflict:
    return Conflict(
        f"contact {contact_id} already has an open case",
        code="case_already_open",
        details={"contact_id": contact_id, "case_id": case_id},
    )


async def open_case(session: AsyncSession, *, org_id: int, data: CaseCreate) -> CaseOut:
    contact = await contact_service.find_contact(
        session, org_id=org_id, contact_id=data.contact_id, phone=data.phone
    )
    if (existing := await repository.open_case_id(session, contact_id=contact.id)) is not None:
        raise _already_open(contact.id, existing)
    case = InboxCase(
        org_id=org_id, contact_id=contact.id, status=CaseStatus.open.value,
        subject=(data.subject or "").strip() or None,
    )
    try:
        # The partial unique index settles two concurrent opens: the loser lands here.
        async with session.begin_nested():
            session.add(case)
    except IntegrityError as exc:
        raise _already_open(contact.id, None) from exc
    return _case_out(case, contact.phone)


async def get_case(session: AsyncSession, *, org_id: int, case_id: int) -> CaseOut:
    row = await repository.case_by_id(session, org_id=org_id, case_id=case_id)
    if row is None:
        raise NotFound(f"no case {case_id}", code="case_not_found")
    await session.refresh(row[0])
    return _case_out(row[0], row[1])


async def close_case(session: AsyncSession, *, org_id: int, case_id: int) -> CaseOut:
    if not await repository.close_case(session, org_id=org_id, case_id=case_id, at=utcnow()):
        current = await get_case(session, org_id=org_id, case_id=case_id)  # 404 if not ours
        raise Conflict(f"case {case_id} is already {current.status.value}", code="case_not_open")
    return await get_case(session, org_id=org_id, case_id=case_id)


async def list_cases(
    session: AsyncSession,
    *,
    org_id: int,
    status: CaseStatus | None = None,
    contact_id: int | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> Page[CaseOut]:
    limit = clamp_limit(limit)
    rows = await repository.list_cases(
        session, org_id=org_id, status=status.value if status else None, contact_id=contact_id,
        after_id=decode_cursor(cursor), limit=limit + 1,
    )
    next_cursor = encode_cursor(rows[limit - 1][0].id) if len(rows) > limit else None
    return Page(items=[_case_out(case, phone) for case, phone in rows[:limit]], next_cursor=next_cursor)
