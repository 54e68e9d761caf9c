from __future__ import annotations

from fastapi import APIRouter, Query, Response

from herald.auth.deps import CurrentPrincipal, WriterPrincipal
from herald.botflows import service
from herald.botflows.schemas import BotFlowCreate, BotFlowOut, BotFlowUpdate
from herald.kit.deps import OutboundDep, SecretBoxDep, SessionDep
from herald.kit.pagination import Page
from herald.models import BotFlow

router = APIRouter(prefix="/bot-flows", tags=["bot flows"])


def bot_flow_out(bot_flow: BotFlow) -> BotFlowOut:
    return BotFlowOut(
        id=bot_flow.id,
        name=bot_flow.name,
        webhook_url=bot_flow.webhook_url,
        has_secret=bool(bot_flow.secret_enc),
        created_at=bot_flow.created_at,
    )


@router.post("", response_model=BotFlowOut, status_code=201)
async def create_bot_flow(
    body: BotFlowCreate, session: SessionDep, box: SecretBoxDep, outbound: OutboundDep, principal: WriterPrincipal
) -> BotFlowOut:
    return bot_flow_out(await service.create_bot_flow(session, box, outbound, org_id=principal.org_id, data=body))


@router.get("", response_model=Page[BotFlowOut])
async def list_bot_flows(
    session: SessionDep, principal: CurrentPrincipal, limit: int = Query(100), cursor: str | None = None
) -> Page[BotFlowOut]:
    rows, next_cursor = await service.list_bot_flows(session, org_id=principal.org_id, cursor=cursor, limit=limit)
    return Page[BotFlowOut](items=[bot_flow_out(r) for r in rows], next_cursor=next_cursor)


@router.get("/{bot_flow_id}", response_model=BotFlowOut)
async def get_bot_flow(bot_flow_id: int, session: SessionDep, principal: CurrentPrincipal) -> BotFlowOut:
    return bot_flow_out(await service.get_bot_flow(session, org_id=principal.org_id, bot_flow_id=bot_flow_id))


@router.patch("/{bot_flow_id}", response_model=BotFlowOut)
async def update_bot_flow(
    bot_flow_id: int, body: BotFlowUpdate, session: SessionDep, box: SecretBoxDep, outbound: OutboundDep,
    principal: WriterPrincipal,
) -> BotFlowOut:
    bot_flow = await service.update_bot_flow(
        session, box, outbound, org_id=principal.org_id, bot_flow_id=bot_flow_id, changes=body
    )
    return bot_flow_out(bot_flow)


@router.delete("/{bot_flow_id}", status_code=204)
async def delete_bot_flow(bot_flow_id: int, session: SessionDep, principal: WriterPrincipal) -> Response:
    await service.delete_bot_flow(session, org_id=principal.org_id, bot_flow_id=bot_flow_id)
    return Response(status_code=204)
