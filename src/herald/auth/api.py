from __future__ import annotations

from fastapi import APIRouter, Request, Response

from herald.auth import repository, service, user_access
from herald.auth.deps import AdminPrincipal, CurrentPrincipal
from herald.auth.schemas import ApiKeyCreate, ApiKeyCreated, ApiKeyOut, Me, UserCreate, UserOut, UserUpdate
from herald.kit.deps import SessionDep

router = APIRouter(tags=["access"])


@router.get("/me", response_model=Me)
async def me(principal: CurrentPrincipal) -> Me:
    return Me(org_id=principal.org_id, role=principal.role)


@router.get("/api-keys", response_model=list[ApiKeyOut])
async def list_api_keys(session: SessionDep, principal: AdminPrincipal) -> list[ApiKeyOut]:
    rows = await repository.list_api_keys(session, org_id=principal.org_id)
    return [ApiKeyOut.model_validate(r, from_attributes=True) for r in rows]


@router.post("/api-keys", response_model=ApiKeyCreated, status_code=201)
async def create_api_key(
    body: ApiKeyCreate, request: Request, session: SessionDep, principal: AdminPrincipal
) -> ApiKeyCreated:
    row, key = await service.create_api_key(
        session, org_id=principal.org_id, role=body.role, name=body.name,
        secret_key=request.app.state.settings.secret_key,
    )
    return ApiKeyCreated(**ApiKeyOut.model_validate(row, from_attributes=True).model_dump(), key=key)


@router.post("/api-keys/{api_key_id}/revoke", response_model=ApiKeyOut)
async def revoke_api_key(api_key_id: int, session: SessionDep, principal: AdminPrincipal) -> ApiKeyOut:
    row = await service.revoke_api_key(session, org_id=principal.org_id, api_key_id=api_key_id)
    return ApiKeyOut.model_validate(row, from_attributes=True)


@router.get("/users", response_model=list[UserOut])
async def list_users(session: SessionDep, principal: AdminPrincipal) -> list[UserOut]:
    rows = await repository.list_users(session, org_id=principal.org_id)
    return [UserOut.model_validate(r, from_attributes=True) for r in rows]


@router.post("/users", response_model=UserOut, status_code=201)
async def create_user(body: UserCreate, session: SessionDep, principal: AdminPrincipal) -> UserOut:
    user = await service.create_user(
        session, org_id=principal.org_id, email=body.email, password=body.password, role=body.role
    )
    return UserOut.model_validate(user, from_attributes=True)


@router.patch("/users/{user_id}", response_model=UserOut)
async def update_user(user_id: int, body: UserUpdate, session: SessionDep, principal: AdminPrincipal) -> UserOut:
    """Change a user's role, deactivate or reactivate them, or reset their password. Deactivating
    or a new password ends their sessions at once; leaving the organization without an active
    admin user is refused (409 ``last_admin``). API keys are not touched: revoke them on their own.
    Changing one's own password (checked against the current one) is in the UI's Settings: an API
    key belongs to the organization, not to a user."""
    user = await user_access.update_user(
        session, org_id=principal.org_id, user_id=user_id, role=body.role, active=body.active, password=body.password
    )
    return UserOut.model_validate(user, from_attributes=True)


@router.delete("/users/{user_id}", status_code=204)
async def delete_user(user_id: int, session: SessionDep, principal: AdminPrincipal) -> Response:
    """Delete a user for good; their sessions end at once. The last active admin cannot be deleted (409)."""
    await user_access.delete_user(session, org_id=principal.org_id, user_id=user_id)
    return Response(status_code=204)
