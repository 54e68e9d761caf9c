"""Bot deliveries as operators see them: what is waiting, what arrived, what failed and why."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from herald.kit.pagination import Page, clamp_limit, decode_cursor, encode_cursor
from herald.replies import repository
from herald.replies.schemas import BotDeliveryOut, DeliveryStatus


async def list_deliveries(
    session: AsyncSession, *, org_id: int, status: DeliveryStatus | None = None, campaign_id: int | None = None,
    limit: int = 50, cursor: str | None = None,
) -> Page[BotDeliveryOut]:
    limit = clamp_limit(limit)
    rows = await repository.list_deliveries(
        session, org_id=org_id, status=status.value if status else None, campaign_id=campaign_id,
        after_id=decode_cursor(cursor), limit=limit + 1,
    )
    items = [BotDeliveryOut.model_validate(row, from_attributes=True) for row in rows[:limit]]
    return Page(items=items, next_cursor=encode_cursor(rows[limit - 1].id) if len(rows) > limit else None)
