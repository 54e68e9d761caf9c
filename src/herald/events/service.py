"""Event endpoints: the rules. Services flush, never commit."""

from __future__ import annotations

import re

from sqlalchemy.ext.asyncio import AsyncSession

from herald.events import outbox, repository
from herald.events.schemas import DeliveryStatus, EventDeliveryOut, EventEndpointCreate, EventEndpointUpdate
from herald.events.types import ALL_TYPES
from herald.kit.crypto import SecretBox
from herald.kit.errors import Invalid, NotFound
from herald.kit.outbound import OutboundPolicy
from herald.kit.pagination import Page, clamp_limit, decode_cursor, encode_cursor
from herald.kit.types import utcnow
from herald.models import EventEndpoint, EventOutbox

MAX_ENDPOINTS = 20  # per organization: each event is written once per subscribed endpoint
EVENT_ID = re.compile(r"evt_[0-9a-f]{32}")  # outbox.new_event_ids


def _not_found() -> NotFound:
    return NotFound("no such event endpoint in this organization", code="event_endpoint_not_found")


def _checked_url(policy: OutboundPolicy, url: str) -> str:
    problem = policy.url_problem(url, field="url")
    if problem is not None:
        raise Invalid(problem, field="url")
    return url.strip()


def _checked_types(types: list[str]) -> list[str]:
    unknown = [t for t in types if t not in ALL_TYPES]
    if unknown:
        raise Invalid(f"unknown event type {unknown[0]!r}; known: {', '.join(ALL_TYPES)}", field="event_types")
    return sorted(set(types), key=ALL_TYPES.index)


async def get_endpoint(session: AsyncSession, *, org_id: int, endpoint_id: int) -> EventEndpoint:
    endpoint = await repository.get(session, org_id=org_id, endpoint_id=endpoint_id)
    if endpoint is None:
        raise _not_found()
    return endpoint


async def list_endpoints(
    session: AsyncSession, *, org_id: int, cursor: str | None, limit: int
) -> tuple[list[EventEndpoint], str | None]:
    limit = clamp_limit(limit)
    rows = await repository.list_page(session, org_id=org_id, after_id=decode_cursor(cursor), limit=limit + 1)
    next_cursor = encode_cursor(rows[limit - 1].id) if len(rows) > limit else None
    return rows[:limit], next_cursor


async def create_endpoint(
    session: AsyncSession, box: SecretBox, policy: OutboundPolicy, *, org_id: int, data: EventEndpointCreate
) -> EventEndpoint:
    existing = await repository.list_page(session, org_id=org_id, after_id=0, limit=MAX_ENDPOINTS)
    if len(existing) >= MAX_ENDPOINTS:
        raise Invalid(f"an organization has at most {MAX_ENDPOINTS} event endpoints", field="url",
                      code="too_many_event_endpoints")
    endpoint = EventEndpoint(
        org_id=org_id, url=_checked_url(policy, data.url), secret_enc=box.encrypt(data.secret),
        event_types=_checked_types(data.event_types), description=data.description.strip(), failures=0,
    )
    session.add(endpoint)
    await session.flush()
    outbox.forget_subscriptions(session)
    return endpoint


async def update_endpoint(
    session: AsyncSession, box: SecretBox, policy: OutboundPolicy, *, org_id: int, endpoint_id: int,
    changes: EventEndpointUpdate,
) -> EventEndpoint:
    endpoint = await get_endpoint(session, org_id=org_id, endpoint_id=endpoint_id)
    if changes.url is not None and changes.url.strip() != endpoint.url:
        if changes.secret is None:
            raise Invalid("changing the URL needs the secret again", field="secret", code="secret_required")
        endpoint.url = _checked_url(policy, changes.url)
    if changes.secret is not None:
        endpoint.secret_enc = box.encrypt(changes.secret)
    if changes.event_types is not None:
        endpoint.event_types = _checked_types(changes.event_types)
    if changes.description is not None:
        endpoint.description = changes.description.strip()
    # A fixed endpoint should not wait out the back-off its old URL or secret earned.
    endpoint.failures, endpoint.backoff_until = 0, None
    await session.flush()
    outbox.forget_subscriptions(session)
    return endpoint


async def delete_endpoint(session: AsyncSession, *, org_id: int, endpoint_id: int) -> None:
    """Marked deleted (see ``EventEndpoint``); what waited for it is dropped, its log pruned later."""
    endpoint = await get_endpoint(session, org_id=org_id, endpoint_id=endpoint_id)
    endpoint.deleted_at = utcnow()
    await repository.drop_pending(session, endpoint_id=endpoint.id)
    await session.flush()
    outbox.forget_subscriptions(session)


async def send_test_event(session: AsyncSession, *, org_id: int, endpoint_id: int) -> str:
    endpoint = await get_endpoint(session, org_id=org_id, endpoint_id=endpoint_id)
    return await outbox.record_test_event(session, org_id=org_id, endpoint_id=endpoint.id)


async def list_deliveries(
    session: AsyncSession, *, org_id: int, endpoint_id: int, status: DeliveryStatus | None, limit: int,
    cursor: str | None, event_id: str | None = None,
) -> Page[EventDeliveryOut]:
    """Newest first, one item per batch; ``cursor`` is the last id of the previous page; ``event_id``
    finds the batch holding that event."""
    endpoint = await get_endpoint(session, org_id=org_id, endpoint_id=endpoint_id)
    limit = clamp_limit(limit)
    event_id = (event_id or "").strip() or None  # pasted from a receiver's log
    if event_id is not None and not EVENT_ID.fullmatch(event_id):
        raise Invalid("an event id is evt_ and 32 lowercase hex digits", field="event_id")
    before = decode_cursor(cursor) if cursor else None
    rows = await repository.deliveries(
        session, endpoint_id=endpoint.id, status=status.value if status else None, event_id=event_id,
        before_id=before, limit=limit + 1,
    )
    items = [delivery_out(row) for row in rows[:limit]]
    return Page(items=items, next_cursor=encode_cursor(rows[limit - 1].id) if len(rows) > limit else None)


def delivery_out(row: EventOutbox) -> EventDeliveryOut:
    types = row.event_types.split(",")
    return EventDeliveryOut(
        id=row.id, event_id=row.event_id, last_event_id=row.last_event_id, event_count=row.event_count,
        event_type=types[0], event_types=types, status=DeliveryStatus(row.status), attempts=row.attempts,
        last_error=row.last_error, last_status_code=row.last_status_code, last_attempt_at=row.last_attempt_at,
        delivered_at=row.delivered_at, created_at=row.created_at,
    )
