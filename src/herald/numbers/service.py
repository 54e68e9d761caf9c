"""WhatsApp numbers: the rules. Services flush, never commit; the caller owns the transaction.

A call to WhatsApp is made with no transaction open (on SQLite a transaction holds the write lock,
and the worker must keep recording sends meanwhile): the caller reads what the call needs, commits,
makes the call, then stores its outcome in a new transaction, where the number is read again.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from herald.kit.crypto import SecretBox
from herald.kit.errors import Conflict, NotFound
from herald.kit.pagination import clamp_limit, decode_cursor, encode_cursor
from herald.kit.types import utcnow
from herald.models import WhatsAppNumber
from herald.numbers import repository
from herald.numbers.schemas import WhatsAppNumberCreate, WhatsAppNumberUpdate
from herald.whatsapp import CloudAPIClient, NumberCredentials, NumberInfo, WhatsAppError

log = logging.getLogger(__name__)

# Reading number info is a courtesy on create: never let a slow Graph API hold the request for the
# client's full 30-second timeout.
NUMBER_INFO_TIMEOUT_SECONDS = 5.0
CHANGED_DURING_CALL = "the number was changed while WhatsApp was being asked; try again"
_SECRET_FIELDS = ("access_token", "app_secret", "verify_token")


@dataclass(frozen=True)
class InfoReading:
    """A number's throughput, tier and quality as read from WhatsApp, or why they could not be read."""

    info: NumberInfo | None
    error: str | None = None


async def get_number(session: AsyncSession, *, org_id: int, number_id: int) -> WhatsAppNumber:
    number = await repository.get(session, org_id=org_id, number_id=number_id)
    if number is None:
        raise _not_found()
    return number


async def get_current_number(session: AsyncSession, *, org_id: int, number_id: int) -> WhatsAppNumber:
    """The number as it is now, locked until the transaction ends: read it again after a call to WhatsApp."""
    number = await repository.get_current(session, org_id=org_id, number_id=number_id)
    if number is None:
        raise _not_found()
    return number


def still_targets(number: WhatsAppNumber, creds: NumberCredentials) -> bool:
    """Whether the number still names the phone number and Graph API that `creds` were taken for."""
    return (number.phone_number_id, number.graph_api_base) == (creds.phone_number_id, creds.graph_api_base)


async def list_numbers(
    session: AsyncSession, *, org_id: int, cursor: str | None, limit: int
) -> tuple[list[WhatsAppNumber], str | None]:
    limit = clamp_limit(limit)
    rows = await repository.list_page(session, org_id=org_id, after_id=decode_cursor(cursor), limit=limit + 1)
    next_cursor = encode_cursor(rows[limit - 1].id) if len(rows) > limit else None
    return rows[:limit], next_cursor


async def add_number(
    session: AsyncSession, box: SecretBox, *, org_id: int, data: WhatsAppNumberCreate
) -> WhatsAppNumber:
    """Store the number with encrypted secrets; its throughput, tier and quality are read afterwards."""
    await _ensure_phone_number_id_free(session, data.phone_number_id)
    number = WhatsAppNumber(
        org_id=org_id,
        display_phone_number=data.display_phone_number,
        phone_number_id=data.phone_number_id,
        waba_id=data.waba_id,
        access_token_enc=box.encrypt(data.access_token),
        app_secret_enc=box.encrypt(data.app_secret),
        verify_token_enc=box.encrypt(data.verify_token),
        graph_api_base=data.graph_api_base,
        graph_api_version=data.graph_api_version,
        throughput_mps=80,
    )
    session.add(number)
    await _flush_unique(session)
    return number




async def update_number(
    session: AsyncSession, box: SecretBox, *, org_id: int, number_id: int, changes: WhatsAppNumberUpdate
) -> WhatsAppNumber:
    number = await get_number(session, org_id=org_id, number_id=number_id)
    given = changes.model_dump(exclude_unset=True, exclude_none=True)
    new_id = given.get("phone_number_id")
    if new_id is not None and new_id != number.phone_number_id:
        await _ensure_phone_number_id_free(session, new_id, except_id=number.id)
    for name, value in given.items():
        if name in _SECRET_FIELDS:
            setattr(number, f"{name}_enc", box.encrypt(value))
        else:
            setattr(number, name, value)
    await _flush_unique(session)
    return number


async def delete_number(session: AsyncSession, *, org_id: int, number_id: int) -> None:
    number = await get_number(session, org_id=org_id, number_id=number_id)
    await session.delete(number)
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as exc:
        raise Conflict(
            "this number is used by campaigns; delete those campaigns first", code="whatsapp_number_in_use"
        ) from exc


async def read_number_info(client: CloudAPIClient, creds: NumberCredentials) -> InfoReading:
    """Throughput, messaging tier and quality from WhatsApp; call it with no transaction open."""
    try:
        info = await asyncio.wait_for(client.get_number_info(creds), timeout=NUMBER_INFO_TIMEOUT_SECONDS)
    except TimeoutError:
        return InfoReading(None, f"WhatsApp did not answer within {NUMBER_INFO_TIMEOUT_SECONDS:g} seconds")
    except WhatsAppError as exc:
        log.info("number info for %s not read: %s", creds.phone_number_id, exc.message)
        return InfoReading(None, f"{exc.human_reason} ({exc.message})")
    return InfoReading(info)


async def store_number_info(
    session: AsyncSession, *, org_id: int, number_id: int, creds: NumberCredentials, reading: InfoReading
) -> tuple[WhatsAppNumber, str | None]:
    """Keep what `read_number_info` read with `creds`; returns the number and why the info was not kept.

    A number deleted meanwhile is `NotFound`; one moved to another phone number or Graph API keeps its info.
    """
    number = await get_current_number(session, org_id=org_id, number_id=number_id)
    if reading.info is None:
        return number, reading.error
    if not still_targets(number, creds):
        return number, CHANGED_DURING_CALL
    number.throughput_mps = reading.info.throughput_mps
    number.messaging_limit_tier = reading.info.messaging_limit_tier
    number.quality_rating = reading.info.quality_rating
    number.info_synced_at = utcnow()
    await session.flush()
    return number, None


def credentials_of(box: SecretBox, number: WhatsAppNumber) -> NumberCredentials:
    return NumberCredentials(
        phone_number_id=number.phone_number_id,
        waba_id=number.waba_id,
        access_token=box.decrypt(number.access_token_enc),
        graph_api_base=number.graph_api_base,
        graph_api_version=number.graph_api_version,
    )


async def credentials_for(
    session: AsyncSession, box: SecretBox, *, org_id: int, number_id: int
) -> NumberCredentials:
    """What the campaign engine needs to call the Cloud API for one of the organization's numbers."""
    return credentials_of(box, await get_number(session, org_id=org_id, number_id=number_id))


async def number_by_phone_number_id(session: AsyncSession, phone_number_id: str) -> WhatsAppNumber | None:
    """The number a webhook is about, whatever its organization (the id is globally unique)."""
    return await repository.by_phone_number_id(session, phone_number_id=phone_number_id)


def app_secret_of(box: SecretBox, number: WhatsAppNumber) -> str:
    """The key of the number's `X-Hub-Signature-256`."""
    return box.decrypt(number.app_secret_enc)


def verify_token_of(box: SecretBox, number: WhatsAppNumber) -> str:
    return box.decrypt(number.verify_token_enc)


async def verify_token_matches(session: AsyncSession, box: SecretBox, *, verify_token: str) -> bool:
    """Whether any number uses this verify token: Meta's handshake names no number.

    Fernet is randomized, so the tokens cannot be looked up; there are few numbers, decrypt them all.
    """
    matched = False
    for number in await repository.all_numbers(session):
        # No early exit and a constant-time compare: timing must not reveal how close a guess was.
        matched |= hmac.compare_digest(verify_token_of(box, number).encode(), verify_token.encode())
    return matched


async def _ensure_phone_number_id_free(
    session: AsyncSession, phone_number_id: str, *, except_id: int | None = None
) -> None:
    if await repository.phone_number_id_taken(session, phone_number_id=phone_number_id, except_id=except_id):
        raise _duplicate()


async def _flush_unique(session: AsyncSession) -> None:
    # The check above leaves a race between two requests; the unique index settles it.
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as exc:
        raise _duplicate() from exc


def _not_found() -> NotFound:
    return NotFound("no such WhatsApp number in this organization", code="whatsapp_number_not_found")


def _duplicate() -> Conflict:
    return Conflict(
        "a WhatsApp number with this phone_number_id is already registered",
        code="duplicate_phone_number_id",
        details=[{"field": "phone_number_id", "message": "already registered"}],
    )
