"""The campaigns list's live feed: the progress of the listed live campaigns over SSE, once a second.

Each tick is one read (``reports/progress.py``: one statement for every row), in a short session of
its own; the feed ends once none of its campaigns is live any more.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Query, Request
from sse_starlette import EventSourceResponse, ServerSentEvent

from herald.campaigns.lifecycle import LIVE
from herald.kit.db import Database
from herald.kit.errors import Invalid
from herald.reports import progress
from herald.web.deps import UiUser

router = APIRouter(prefix="/ui/campaigns")

SSE_PING_SECONDS = 15
INTERVAL_SECONDS = 1.0
MAX_CAMPAIGNS = 50  # a page of the list


@router.get("/progress")
async def progress_events(
    request: Request, user: UiUser, ids: Annotated[list[int], Query(alias="id")],
) -> EventSourceResponse:
    """``progress`` events: a JSON list of ``CampaignProgressOut``, one per listed campaign of the user's org."""
    if not 1 <= len(ids) <= MAX_CAMPAIGNS:
        raise Invalid(f"give 1 to {MAX_CAMPAIGNS} campaign ids", field="id")
    events = _events(request.app.state.database, org_id=user.principal.org_id, campaign_ids=sorted(set(ids)))
    return EventSourceResponse(events, ping=SSE_PING_SECONDS)


async def _events(database: Database, *, org_id: int, campaign_ids: list[int]) -> AsyncIterator[ServerSentEvent]:
    while True:
        async with database.read_session() as session:
            figures = await progress.progress_of(session, org_id=org_id, campaign_ids=campaign_ids)
        yield ServerSentEvent(
            data=json.dumps([f.model_dump(mode="json") for f in figures.values()]), event="progress")
        if not any(f.status in LIVE for f in figures.values()):
            yield ServerSentEvent(data="{}", event="done")
            return
        await asyncio.sleep(INTERVAL_SECONDS)
