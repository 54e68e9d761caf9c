"""Event endpoints: where an organization's events are POSTed, signed (docs/events.md). Admins only."""

from __future__ import annotations

from fastapi import APIRouter, Query, Response

from herald.auth.deps import AdminPrincipal
from herald.events import service
from herald.events.schemas import (
    DeliveryStatus,
    EventDeliveryOut,
    EventEndpointCreate,
    EventEndpointOut,
    EventEndpointUpdate,
    TestEventOut,
)
from herald.kit.deps import OutboundDep, SecretBoxDep, SessionDep
from herald.kit.pagination import Page
from herald.models import EventEndpoint

router = APIRouter(prefix="/event-endpoints", tags=["event endpoints"])


def endpoint_out(endpoint: EventEndpoint) -> EventEndpointOut:
    return EventEndpointOut(
        id=endpoint.id, url=endpoint.url, description=endpoint.description, event_types=list(endpoint.event_types),
        has_secret=bool(endpoint.secret_enc), failures=endpoint.failures, backoff_until=endpoint.backoff_until,
        created_at=endpoint.created_at,
    )


@router.post("", response_model=EventEndpointOut, status_code=201)
async def create_event_endpoint(
    body: EventEndpointCreate, session: SessionDep, box: SecretBoxDep, outbound: OutboundDep,
    principal: AdminPrincipal,
) -> EventEndpointOut:
    return endpoint_out(await service.create_endpoint(session, box, outbound, org_id=principal.org_id, data=body))


@router.get("", response_model=Page[EventEndpointOut])
async def list_event_endpoints(
    session: SessionDep, principal: AdminPrincipal, limit: int = Query(100), cursor: str | None = None
) -> Page[EventEndpointOut]:
    rows, next_cursor = await service.list_endpoints(session, org_id=principal.org_id, cursor=cursor, limit=limit)
    return Page[EventEndpointOut](items=[endpoint_out(r) for r in rows], next_cursor=next_cursor)


@router.get("/{endpoint_id}", response_model=EventEndpointOut)
async def get_event_endpoint(endpoint_id: int, session: SessionDep, principal: AdminPrincipal) -> EventEndpointOut:
    return endpoint_out(await service.get_endpoint(session, org_id=principal.org_id, endpoint_id=endpoint_id))


@router.patch("/{endpoint_id}", response_model=EventEndpointOut)
async def update_event_endpoint(
    endpoint_id: int, body: EventEndpointUpdate, session: SessionDep, box: SecretBoxDep, outbound: OutboundDep,
    principal: AdminPrincipal,
) -> EventEndpointOut:
    endpoint = await service.update_endpoint(
        session, box, outbound, org_id=principal.org_id, endpoint_id=endpoint_id, changes=body
    )
    return endpoint_out(endpoint)


@router.delete("/{endpoint_id}", status_code=204)
async def delete_event_endpoint(endpoint_id: int, session: SessionDep, principal: AdminPrincipal) -> Response:
    await service.delete_endpoint(session, org_id=principal.org_id, endpoint_id=endpoint_id)
    return Response(status_code=204)


@router.post("/{endpoint_id}/test", response_model=TestEventOut, status_code=202)
async def send_test_event(endpoint_id: int, session: SessionDep, principal: AdminPrincipal) -> TestEventOut:
    """Queues one ``endpoint.test`` event for this endpoint; its delivery shows in the delivery log."""
    return TestEventOut(event_id=await service.send_test_event(session, org_id=principal.org_id, endpoint_id=endpoint_id))


@router.get("/{endpoint_id}/deliveries", response_model=Page[EventDeliveryOut])
async def list_event_deliveries(
    endpoint_id: int, session: SessionDep, principal: AdminPrincipal, status: DeliveryStatus | None = None,
    event_id: str | None = Query(None, description="Only the batch holding this event."),
    limit: int = Query(50), cursor: str | None = None,
) -> Page[EventDeliveryOut]:
    """The delivery log, newest first: one item per batch of events recorded together."""
    return await service.list_deliveries(
        session, org_id=principal.org_id, endpoint_id=endpoint_id, status=status, limit=limit, cursor=cursor,
        event_id=event_id,
    )
