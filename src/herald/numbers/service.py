"""WhatsApp numbers: the rules. Services flush, never commit; the caller owns the transaction.

A call to WhatsApp is made with no transaction open (on SQLite a transaction holds the write lock,
and the worker must keep recording sends meanwhile): the caller reads what the call needs, commits,
makes the call, then stores its outcome in a new transaction, where the number is read again.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from herald.kit.crypto import SecretBox, secret_key_id, verify_token_digest
from herald.kit.errors import Conflict, Forbidden, Invalid, NotFound
from herald.kit.outbound import OutboundPolicy
from herald.kit.pagination import clamp_limit, decode_cursor, encode_cursor
from herald.kit.types import utcnow
from herald.models import WhatsAppNumber
from herald.numbers import repository
from herald.numbers.errors import graph_failure, graph_timeout
from herald.numbers.schemas import CLEARABLE, WhatsAppNumberCreate, WhatsAppNumberUpdate
from herald.whatsapp import CloudAPIClient, NumberCredentials, NumberInfo, RefusedByPolicy, WhatsAppError

log = logging.getLogger(__name__)

# Reading number info is a courtesy on create: never let a slow Graph API hold the request for the
# client's full 30-second timeout.
NUMBER_INFO_TIMEOUT_SECONDS = 5.0
CHANGED_DURING_CALL = "the number was changed while WhatsApp was being asked; try again"
_SECRET_FIELDS = ("access_token", "app_secret", "verify_token")
# Where a number's traffic, and so its access token, goes; changing either needs the secrets again.
TARGET_FIELDS = ("phone_number_id", "graph_api_base")
RESUPPLIED_SECRETS = ("access_token", "app_secret")


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


def check_graph_api_base(policy: OutboundPolicy, graph_api_base: str) -> None:
    """The outbound URL policy on a base about to be saved: `Invalid` on field `graph_api_base`."""
    problem = policy.url_problem(graph_api_base, field="graph_api_base")
    if problem is not None:
        raise Invalid(problem, field="graph_api_base")


async def ensure_phone_number_id_free(
    session: AsyncSession, phone_number_id: str, *, except_id: int | None = None
) -> None:
    if await repository.phone_number_id_taken(session, phone_number_id=phone_number_id, except_id=except_id):
        raise _duplicate()


def credentials_to_claim(data: WhatsAppNumberCreate) -> NumberCredentials:
    return NumberCredentials(
        phone_number_id=data.phone_number_id, waba_id=data.waba_id, access_token=data.access_token,
        graph_api_base=data.graph_api_base, graph_api_version=data.graph_api_version,
    )


async def check_claim(client: CloudAPIClient, creds: NumberCredentials) -> NumberInfo:
    """Graph must let `creds`' token read `creds`' phone number (``GET /{phone_number_id}``), else `Invalid`.

    Asked before a number is registered or moved to another phone number or Graph API, so that no
    organization can take a phone number (and its webhooks) whose token it does not hold. Call it
    with no transaction open; the info it reads (throughput, tier, quality) is kept with the number.
    """
    base = creds.graph_api_base
    try:
        return await asyncio.wait_for(client.get_number_info(creds), timeout=NUMBER_INFO_TIMEOUT_SECONDS)
    except TimeoutError:
        message = graph_timeout(base, NUMBER_INFO_TIMEOUT_SECONDS)
        raise Invalid(message, field="graph_api_base", code="graph_api_unreachable") from None
    except WhatsAppError as exc:
        if isinstance(exc, RefusedByPolicy) or exc.code is None:
            raise Invalid(graph_failure(base, exc), field="graph_api_base", code="graph_api_unreachable") from exc
        message = (
            f"WhatsApp did not let this access token read phone number {creds.phone_number_id}: "
            f"{graph_failure(base, exc)}"
        )
        details = [
            {"field": "phone_number_id", "message": "not readable with this access token"},
            {"field": "access_token", "message": "cannot read this phone number"},
        ]
        raise Invalid(message, code="whatsapp_number_not_readable", details=details) from exc


async def add_number(
    session: AsyncSession, box: SecretBox, *, secret_key: str, org_id: int, data: WhatsAppNumberCreate,
    info: NumberInfo,
) -> WhatsAppNumber:
    """Store the number with encrypted secrets and the info `check_claim` read; 409 if its id was taken meanwhile."""
    number = WhatsAppNumber(
        org_id=org_id,
        display_phone_number=data.display_phone_number,
        phone_number_id=data.phone_number_id,
        waba_id=data.waba_id,
        access_token_enc=box.encrypt(data.access_token),
        app_secret_enc=box.encrypt(data.app_secret),
        verify_token_enc=box.encrypt(data.verify_token),
        verify_token_digest=verify_token_digest(secret_key, data.verify_token),
        graph_api_base=data.graph_api_base,
        graph_api_version=data.graph_api_version,
        business_portfolio_id=data.business_portfolio_id,
        marketing_messages_api=data.marketing_messages_api,
        marketing_messages_ttl_seconds=data.marketing_messages_ttl_seconds,
        marketing_messages_activity_sharing=data.marketing_messages_activity_sharing,
        throughput_mps=80,
    )
    _keep_info(number, info)
    session.add(number)
    await _flush_unique(session)
    return number


@dataclass(frozen=True)
class NumberChange:
    """A checked PATCH of a number. `claim`: the credentials `check_claim` must accept before it is stored,
    when the number's traffic moves (another phone number id or Graph API base); None otherwise."""

    number_id: int
    given: dict[str, Any]
    target_before: tuple[str, str]
    claim: NumberCredentials | None


async def plan_update(
    session: AsyncSession, policy: OutboundPolicy, *, org_id: int, number_id: int, changes: WhatsAppNumberUpdate,
    is_admin: bool,
) -> NumberChange:
    """Check a PATCH before anything is asked or stored.

    Changing where a number's traffic goes (`phone_number_id`, `graph_api_base`) sends its access
    token somewhere new: only an admin may (`Forbidden`), and only giving the access token and app
    secret again in the same request (`Invalid` naming them), so that a stored token is never led away.
    """
    number = await get_number(session, org_id=org_id, number_id=number_id)
    given = changes.model_dump(exclude_unset=True, exclude_none=True)
    given.update({name: None for name in CLEARABLE if name in changes.model_fields_set and name not in given})
    moved = [name for name in TARGET_FIELDS if name in given and given[name] != getattr(number, name)]
    claim = None
    if moved:
        if not is_admin:
            raise Forbidden(
                "only an admin may change where a number's traffic goes (phone_number_id, graph_api_base)",
                code="admin_only",
                details=[{"field": name, "message": "only an admin may change it"} for name in moved],
            )
        missing = [name for name in RESUPPLIED_SECRETS if name not in given]
        if missing:
            raise Invalid(
                "changing phone_number_id or graph_api_base needs the access token and app secret given again",
                code="secrets_required",
                details=[
                    {"field": name, "message": "required when phone_number_id or graph_api_base changes"}
                    for name in missing
                ],
            )
        if "graph_api_base" in moved:
            check_graph_api_base(policy, given["graph_api_base"])
        if "phone_number_id" in moved:
            await ensure_phone_number_id_free(session, given["phone_number_id"], except_id=number.id)
        claim = NumberCredentials(
            phone_number_id=given.get("phone_number_id", number.phone_number_id),
            waba_id=given.get("waba_id", number.waba_id),
            access_token=given["access_token"],
            graph_api_base=given.get("graph_api_base", number.graph_api_base),
            graph_api_version=given.get("graph_api_version", number.graph_api_version),
        )
    return NumberChange(number.id, given, (number.phone_number_id, number.graph_api_base), claim)


async def apply_update(
    session: AsyncSession, box: SecretBox, change: NumberChange, *, secret_key: str, org_id: int,
    info: NumberInfo | None = None,
) -> WhatsAppNumber:
    """Store a planned change; a moved number with the info `check_claim` read (asked with no transaction
    open: the number is read again, and if it moved meanwhile the change is a `Conflict`)."""
    if change.claim is None:
        number = await get_number(session, org_id=org_id, number_id=change.number_id)
    else:
        number = await get_current_number(session, org_id=org_id, number_id=change.number_id)
        if (number.phone_number_id, number.graph_api_base) != change.target_before:
            raise Conflict(CHANGED_DURING_CALL, code="whatsapp_number_changed")
    for name, value in change.given.items():
        if name in _SECRET_FIELDS:
            setattr(number, f"{name}_enc", box.encrypt(value))
        else:
            setattr(number, name, value)
    if "verify_token" in change.given:
        number.verify_token_digest = verify_token_digest(secret_key, change.given["verify_token"])
    if info is not None:
        _keep_info(number, info)
    await _flush_unique(session)
    return number


def _keep_info(number: WhatsAppNumber, info: NumberInfo) -> None:
    number.throughput_mps = info.throughput_mps
    number.messaging_limit_tier = info.messaging_limit_tier
    number.quality_rating = info.quality_rating
    number.info_synced_at = utcnow()


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
        return InfoReading(None, graph_timeout(creds.graph_api_base, NUMBER_INFO_TIMEOUT_SECONDS))
    except WhatsAppError as exc:
        log.info("number info for %s not read: %s", creds.phone_number_id, exc.message)
        return InfoReading(None, graph_failure(creds.graph_api_base, exc))
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
    _keep_info(number, reading.info)
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


async def verify_token_matches(
    session: AsyncSession, box: SecretBox, *, secret_key: str, verify_token: str
) -> bool:
    """Whether a number uses this verify token: Meta's handshake names no number, so it is found by digest.

    The digest is an HMAC under HERALD_SECRET_KEY, looked up by index (like API keys): no token is
    decrypted per request. What the index compares are HMACs, which a caller cannot steer without
    the key, so how long a comparison takes tells nothing about how close a guess was. Digests
    missing (rows from before migration 0002) or keyed by an earlier secret key are filled the first
    time a handshake finds no match, then looked up again.
    """
    digest = verify_token_digest(secret_key, verify_token)
    if await repository.verify_token_digest_exists(session, digest=digest):
        return True
    if await refresh_verify_token_digests(session, box, secret_key=secret_key):
        return await repository.verify_token_digest_exists(session, digest=digest)
    return False


async def refresh_verify_token_digests(
    session: AsyncSession, box: SecretBox, *, secret_key: str, every: bool = False
) -> int:
    """(Re)compute the verify-token digests that are missing or keyed by another secret key (`every`: all).

    Returns how many were written; a token no configured encryption key opens is left alone.
    """
    key_id = secret_key_id(secret_key)
    written = 0
    for number_id, token_enc in await repository.verify_tokens_to_digest(session, key_id=key_id, every=every):
        try:
            token = box.decrypt(token_enc)
        except ValueError:
            # Quietly when a handshake (anyone on the internet) got here: it could fill the log otherwise.
            level = logging.WARNING if every else logging.DEBUG
            log.log(level, "the verify token of WhatsApp number %s opens with no configured key", number_id)
            continue
        digest = verify_token_digest(secret_key, token)
        await repository.set_verify_token_digest(session, number_id=number_id, digest=digest)
        written += 1
    return written


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
