"""Registering a number, or moving it to another phone number id or Graph API base, first asks Graph
whether the given token can read that phone number (`service.check_claim`); moving needs an admin
and the secrets given again (`service.plan_update`)."""

from __future__ import annotations

from fastapi import APIRouter, Query, Response

from herald.auth.deps import CurrentPrincipal, WriterPrincipal
from herald.kit.deps import OutboundDep, SecretBoxDep, SessionDep, SettingsDep
from herald.kit.pagination import Page
from herald.models import WhatsAppNumber
from herald.numbers import meta_events, service
from herald.numbers.deps import CloudClientDep
from herald.numbers.schemas import (
    NumberEventOut,
    WhatsAppNumberCreate,
    WhatsAppNumberOut,
    WhatsAppNumberUpdate,
)

router = APIRouter(prefix="/whatsapp-numbers", tags=["whatsapp numbers"])


def number_out(number: WhatsAppNumber, info_error: str | None = None) -> WhatsAppNumberOut:
    return WhatsAppNumberOut(
        id=number.id,
        display_phone_number=number.display_phone_number,
        phone_number_id=number.phone_number_id,
        waba_id=number.waba_id,
        graph_api_base=number.graph_api_base,
        graph_api_version=number.graph_api_version,
        throughput_mps=number.throughput_mps,
        messaging_limit_tier=number.messaging_limit_tier,
        business_portfolio_id=number.business_portfolio_id,
        marketing_messages_api=number.marketing_messages_api,
        marketing_messages_ttl_seconds=number.marketing_messages_ttl_seconds,
        marketing_messages_activity_sharing=number.marketing_messages_activity_sharing,
        quality_rating=number.quality_rating,
        info_synced_at=number.info_synced_at,
        created_at=number.created_at,
        has_access_token=bool(number.access_token_enc),
        has_app_secret=bool(number.app_secret_enc),
        has_verify_token=bool(number.verify_token_enc),
        info_error=info_error,
    )


@router.post("", response_model=WhatsAppNumberOut, status_code=201)
async def create_number(
    body: WhatsAppNumberCreate,
    session: SessionDep,
    box: SecretBoxDep,
    client: CloudClientDep,
    outbound: OutboundDep,
    settings: SettingsDep,
    principal: WriterPrincipal,
) -> WhatsAppNumberOut:
    service.check_graph_api_base(outbound, body.graph_api_base)
    await service.ensure_phone_number_id_free(session, body.phone_number_id)
    await session.commit()  # no transaction (on SQLite, no write lock) held while WhatsApp answers
    info = await service.check_claim(client, service.credentials_to_claim(body))
    number = await service.add_number(
        session, box, secret_key=settings.secret_key, org_id=principal.org_id, data=body, info=info
    )
    return number_out(number)


@router.get("", response_model=Page[WhatsAppNumberOut])
async def list_numbers(
    session: SessionDep,
    principal: CurrentPrincipal,
    limit: int = Query(100),
    cursor: str | None = None,
) -> Page[WhatsAppNumberOut]:
    rows, next_cursor = await service.list_numbers(session, org_id=principal.org_id, cursor=cursor, limit=limit)
    return Page[WhatsAppNumberOut](items=[number_out(r) for r in rows], next_cursor=next_cursor)


@router.get("/{number_id}", response_model=WhatsAppNumberOut)
async def get_number(number_id: int, session: SessionDep, principal: CurrentPrincipal) -> WhatsAppNumberOut:
    return number_out(await service.get_number(session, org_id=principal.org_id, number_id=number_id))


@router.patch("/{number_id}", response_model=WhatsAppNumberOut)
async def update_number(
    number_id: int,
    body: WhatsAppNumberUpdate,
    session: SessionDep,
    box: SecretBoxDep,
    client: CloudClientDep,
    outbound: OutboundDep,
    settings: SettingsDep,
    principal: WriterPrincipal,
) -> WhatsAppNumberOut:
    change = await service.plan_update(
        session, outbound, org_id=principal.org_id, number_id=number_id, changes=body, is_admin=principal.is_admin
    )
    info = None
    if change.claim is not None:
        await session.commit()  # no transaction (on SQLite, no write lock) held while WhatsApp answers
        info = await service.check_claim(client, change.claim)
    number = await service.apply_update(
        session, box, change, secret_key=settings.secret_key, org_id=principal.org_id, info=info
    )
    return number_out(number)


@router.delete("/{number_id}", status_code=204)
async def delete_number(number_id: int, session: SessionDep, principal: WriterPrincipal) -> Response:
    await service.delete_number(session, org_id=principal.org_id, number_id=number_id)
    return Response(status_code=204)


@router.post("/{number_id}/refresh", response_model=WhatsAppNumberOut)
async def refresh_number(
    number_id: int, session: SessionDep, box: SecretBoxDep, client: CloudClientDep, principal: WriterPrincipal
) -> WhatsAppNumberOut:
    creds = await service.credentials_for(session, box, org_id=principal.org_id, number_id=number_id)
    await session.commit()  # no transaction (on SQLite, no write lock) held while WhatsApp answers
    reading = await service.read_number_info(client, creds)
    number, info_error = await service.store_number_info(
        session, org_id=principal.org_id, number_id=number_id, creds=creds, reading=reading
    )
    return number_out(number, info_error)


@router.get("/{number_id}/events", response_model=list[NumberEventOut])
async def number_events(number_id: int, session: SessionDep, principal: CurrentPrincipal) -> list[NumberEventOut]:
    """What Meta's webhooks said about the number (quality, messaging limit) and its account, newest first (at most 200)."""
    await service.get_number(session, org_id=principal.org_id, number_id=number_id)
    rows = await meta_events.history(session, org_id=principal.org_id, number_id=number_id)
    return [NumberEventOut.model_validate(row, from_attributes=True) for row in rows]
