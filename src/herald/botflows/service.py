"""Bot flows: the rules. Services flush, never commit."""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from herald.botflows import repository
from herald.botflows.schemas import BotFlowCreate, BotFlowUpdate
from herald.kit.crypto import SecretBox
from herald.kit.errors import Conflict, Invalid, NotFound
from herald.kit.outbound import OutboundPolicy
from herald.kit.pagination import clamp_limit, decode_cursor, encode_cursor
from herald.models import BotFlow


def _not_found() -> NotFound:
    return NotFound("no such bot flow in this organization", code="bot_flow_not_found")


def _checked_url(policy: OutboundPolicy, url: str) -> str:
    problem = policy.url_problem(url, field="webhook_url")
    if problem is not None:
        raise Invalid(problem, field="webhook_url")
    return url.strip()


async def get_bot_flow(session: AsyncSession, *, org_id: int, bot_flow_id: int) -> BotFlow:
    bot_flow = await repository.get(session, org_id=org_id, bot_flow_id=bot_flow_id)
    if bot_flow is None:
        raise _not_found()
    return bot_flow


async def list_bot_flows(
    session: AsyncSession, *, org_id: int, cursor: str | None, limit: int
) -> tuple[list[BotFlow], str | None]:
    limit = clamp_limit(limit)
    rows = await repository.list_page(session, org_id=org_id, after_id=decode_cursor(cursor), limit=limit + 1)
    next_cursor = encode_cursor(rows[limit - 1].id) if len(rows) > limit else None
    return rows[:limit], next_cursor


async def create_bot_flow(
    session: AsyncSession, box: SecretBox, policy: OutboundPolicy, *, org_id: int, data: BotFlowCreate
) -> BotFlow:
    bot_flow = BotFlow(
        org_id=org_id, name=data.name, webhook_url=_checked_url(policy, data.webhook_url),
        secret_enc=box.encrypt(data.secret),
    )
    session.add(bot_flow)
    await session.flush()
    return bot_flow


async def update_bot_flow(
    session: AsyncSession, box: SecretBox, policy: OutboundPolicy, *, org_id: int, bot_flow_id: int,
    changes: BotFlowUpdate,
) -> BotFlow:
    bot_flow = await get_bot_flow(session, org_id=org_id, bot_flow_id=bot_flow_id)
    if changes.name is not None:
        bot_flow.name = changes.name
    if changes.webhook_url is not None:
        bot_flow.webhook_url = _checked_url(policy, changes.webhook_url)
    if changes.secret is not None:
        bot_flow.secret_enc = box.encrypt(changes.secret)
    await session.flush()
    return bot_flow


async def delete_bot_flow(session: AsyncSession, *, org_id: int, bot_flow_id: int) -> None:
    bot_flow = await get_bot_flow(session, org_id=org_id, bot_flow_id=bot_flow_id)
    await session.delete(bot_flow)
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as exc:
        raise Conflict(
            "this bot flow is chosen by campaigns; change or delete those campaigns first", code="bot_flow_in_use"
        ) from exc
