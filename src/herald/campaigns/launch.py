"""Launching a campaign: the audience is materialised by a job, in keyset chunks."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from herald.campaigns import counters
from herald.jobs import queue

MATERIALIZE_JOB = "campaign.materialize"


async def launch_campaign(session: AsyncSession, *, campaign_id: int) -> None:
    """Called in the transaction that made the campaign ``active``: enqueue its materialisation."""
    await counters.ensure_row(session, campaign_id=campaign_id)
    await queue.enqueue(session, kind=MATERIALIZE_JOB, payload={"campaign_id": campaign_id},
                        dedupe_key=f"{MATERIALIZE_JOB}:{campaign_id}")
