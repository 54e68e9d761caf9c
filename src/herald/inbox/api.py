"""``/cases``: the inbox, opened and closed by a help desk through the API."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from herald.auth.deps import CurrentPrincipal, WriterPrincipal
from herald.inbox import service
from herald.inbox.schemas import CaseCreate, CaseOut, CaseStatus
from herald.kit.deps import ReadSessionDep, SessionDep
from herald.kit.pagination import Page

router = APIRouter(tags=["inbox"])


@router.post("/cases", response_model=CaseOut, status_code=201)
async def open_case(body: CaseCreate, session: SessionDep, principal: WriterPrincipal) -> CaseOut:
    return await service.open_case(session, org_id=principal.org_id, data=body)


@router.get("/cases", response_model=Page[CaseOut])
async def list_cases(
    session: ReadSessionDep,
    principal: CurrentPrincipal,
    status: CaseStatus | None = None,
    contact_id: Annotated[int | None, Query(description="Only this contact's cases.")] = None,
    limit: int = 50,
    cursor: str | None = None,
) -> Page[CaseOut]:
    return await service.list_cases(
        session, org_id=principal.org_id, status=status, contact_id=contact_id, limit=limit, cursor=cursor
    )


@router.get("/cases/{case_id}", response_model=CaseOut)
async def get_case(case_id: int, session: ReadSessionDep, principal: CurrentPrincipal) -> CaseOut:
    return await service.get_case(session, org_id=principal.org_id, case_id=case_id)


@router.post("/cases/{case_id}/close", response_model=CaseOut)
async def close_case(case_id: int, session: SessionDep, principal: WriterPrincipal) -> CaseOut:
    return await service.close_case(session, org_id=principal.org_id, case_id=case_id)
