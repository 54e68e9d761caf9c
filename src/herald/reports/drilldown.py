"""The contacts behind a campaign's numbers: a page of one subset (an outcome, a not-sent reason, a
funnel step; ``subsets.py``) and its size. Its CSV is the report's (``export.py``) for that subset."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from herald.kit.pagination import clamp_limit, decode_cursor, encode_cursor
from herald.models.campaign_message import VARIANT_NAMES
from herald.reports import repository
from herald.reports.export_repository import ERROR_SHOWN
from herald.reports.schemas import CampaignContactOut, CampaignContactsOut
from herald.reports.service import require_campaign
from herald.reports.subsets import Subset


async def contacts(
    session: AsyncSession, *, org_id: int, campaign_id: int, subset: Subset, cursor: str | None = None,
    limit: int = 50,
) -> CampaignContactsOut:
    """NotFound across orgs; the cursor is the last contact id of the previous page."""
    limit = clamp_limit(limit)
    after = decode_cursor(cursor)
    await require_campaign(session, org_id=org_id, campaign_id=campaign_id)
    rows = await repository.subset_contacts(
        session, campaign_id=campaign_id, subset=subset, after_contact_id=after, limit=limit)
    total = await repository.subset_size(session, campaign_id=campaign_id, subset=subset)
    items = [
        CampaignContactOut(
            contact_id=row.contact_id, name=row.name, phone=row.phone, wa_user_id=row.wa_user_id, status=row.status,
            error_msg=row.error_msg if row.status in ERROR_SHOWN else None, sent_at=row.sent_at,
            delivered_at=row.delivered_at, read_at=row.read_at, replied_at=row.replied_at,
            variant=None if row.variant is None else VARIANT_NAMES[row.variant],
        )
        for row in rows
    ]
    next_cursor = encode_cursor(rows[-1].contact_id) if len(rows) == limit else None
    return CampaignContactsOut(subset=subset.description(), total=total, items=items, next_cursor=next_cursor)
