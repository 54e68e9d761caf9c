"""FastAPI dependencies that authenticate the caller and enforce roles."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from herald.auth import service
from herald.auth.principal import Principal
from herald.kit.deps import SessionDep
from herald.kit.errors import Forbidden, Unauthorized


async def current_principal(request: Request, session: SessionDep) -> Principal:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("send an API key as 'Authorization: Bearer <key>'", code="missing_api_key")
    principal = await service.authenticate_api_key(
        session, api_key=token.strip(), secret_key=request.app.state.settings.secret_key
    )
    request.state.principal = principal
    return principal


async def writer_principal(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
    if not principal.can_write:
        raise Forbidden("this role may read but not change anything", code="read_only_role")
    return principal


async def admin_principal(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
    if not principal.is_admin:
        raise Forbidden("only an admin may do this", code="admin_only")
    return principal


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]
WriterPrincipal = Annotated[Principal, Depends(writer_principal)]
AdminPrincipal = Annotated[Principal, Depends(admin_principal)]
