"""Receiving Meta's webhooks: verify the signature over the raw bytes, store each event once, answer.

Nothing is applied here: the applier does that in rounds, so the endpoint stays fast whatever
happens downstream (docs/architecture.md, "The webhook receiver and applier").
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from weakref import WeakKeyDictionary

import orjson
from sqlalchemy import Table, bindparam, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from herald.kit.crypto import SecretBox
from herald.kit.db import Database
from herald.kit.dialect import insert, is_postgres
from herald.kit.errors import HeraldError, Unauthorized
from herald.kit.types import utcnow
from herald.models import WebhookEvent, WhatsAppNumber
from herald.webhooks import events, waba_events
from herald.whatsapp import WebhookPayloadError, parse_webhook_document, routing_ids, verify_signature
from herald.whatsapp.webhooks import WebhookRouting, decode_webhook

MAX_BODY_BYTES = 8 * 1024 * 1024  # Meta sends up to 3 MB; leave room, refuse the absurd early


_events: Table = WebhookEvent.__table__  # type: ignore[assignment]


class MalformedWebhook(HeraldError):
    status_code = 400
    code = "malformed_webhook"


@dataclass(frozen=True, slots=True)
class Stored:
    received: int
    new: int


NumberRow = tuple[str, int, str, str]  # phone_number_id, org_id, app_secret_enc, waba_id


_NUMBER_COLUMNS = (
    WhatsAppNumber.phone_number_id, WhatsAppNumber.org_id, WhatsAppNumber.app_secret_enc, WhatsAppNumber.waba_id
)
_NUMBERS_BY_ID = select(*_NUMBER_COLUMNS).where(WhatsAppNumber.phone_number_id.in_(bindparam("ids", expanding=True)))
_NUMBERS_BY_WABA = select(*_NUMBER_COLUMNS).where(WhatsAppNumber.waba_id.in_(bindparam("ids", expanding=True)))


async def _numbers_named(session: AsyncSession, phone_number_ids: frozenset[str], waba_ids: frozenset[str]) -> list[NumberRow]:
    if phone_number_ids:
        stmt, ids = _NUMBERS_BY_ID, phone_number_ids
    elif waba_ids:
        stmt, ids = _NUMBERS_BY_WABA, waba_ids
    else:
        return []
    return [(n, o, a, w) for n, o, a, w in (await session.execute(stmt, {"ids": sorted(ids)}))]


# Decrypted app secrets by their ciphertext, per box: a Fernet decryption per POST is measurable on the
# hot path, and a ciphertext always decrypts to the same secret (a changed secret is a new ciphertext).
_secrets: WeakKeyDictionary[SecretBox, dict[str, str]] = WeakKeyDictionary()


def _app_secret(box: SecretBox, ciphertext: str) -> str:
    known = _secrets.setdefault(box, {})
    secret = known.get(ciphertext)
    if secret is None:
        if len(known) >= 1024:
            known.clear()
        secret = known[ciphertext] = box.decrypt(ciphertext)
    return secret


def _decoded(raw: bytes, signature: str | None) -> tuple[Any, WebhookRouting]:
    if not signature:
        raise Unauthorized("X-Hub-Signature-256 is missing", code="missing_signature")
    try:
        document = decode_webhook(raw)
        return document, routing_ids(document)
    except (WebhookPayloadError, AttributeError) as exc:
        raise MalformedWebhook(f"the body is not a WhatsApp webhook: {exc}") from exc


def _verified_rows(
    box: SecretBox, raw: bytes, signature: str, document: Any, numbers: Sequence[NumberRow], *, by_waba: bool = False
) -> list[dict[str, Any]]:
    if not numbers:
        raise Unauthorized("the webhook names no WhatsApp number registered here", code="unknown_number")
    if by_waba:
        # Only account-level fields (templates, number quality): each app subscribed to the WABA gets
        # them signed with its own secret, so they are kept for the numbers whose secret signed them.
        numbers = [n for n in numbers if verify_signature(raw, signature, _app_secret(box, n[2]))]
        if not numbers:
            raise Unauthorized("the webhook signature does not match the WABA's app secret", code="bad_signature")
    # Meta signs with the app secret; every number a POST names must share the one that signed it.
    elif not all(verify_signature(raw, signature, _app_secret(box, n[2])) for n in numbers):
        raise Unauthorized("the webhook signature does not match the number's app secret", code="bad_signature")
    try:
        parsed = parse_webhook_document(document)
    except WebhookPayloadError as exc:
        raise MalformedWebhook(str(exc)) from exc
    # Template and account changes name only the WABA: stored for the organizations whose numbers verified it.
    return _rows(parsed, {n[0]: n[1] for n in numbers}) + waba_events.rows(parsed, numbers, utcnow())


# The numbers (id, org, app secret ciphertext) each set of phone number ids last resolved to, by
# database. Only a hint: a POST verified with them is stored only if the same query, run again inside
# the write transaction, returns the same rows; otherwise it takes the full path.
_numbers_seen: dict[tuple[str, frozenset[str]], tuple[NumberRow, ...]] = {}


async def receive_stored(database: Database, box: SecretBox, *, raw: bytes, signature: str | None) -> Stored:
    """Verifies, parses and stores a POST, committed before it returns.

    The hot path needs one short write transaction: the numbers a POST names are looked up once,
    then re-read (one indexed query) inside the transaction that stores the events, so the CPU work
    (HMAC, parsing) stays outside it and a number changed meanwhile is never used stale.
    """
    document, routing = _decoded(raw, signature)
    assert signature is not None
    key = (database.url, routing.phone_number_ids)
    seen = _numbers_seen.get(key) if routing.phone_number_ids else None
    if seen is not None:
        try:
            rows = _verified_rows(box, raw, signature, document, seen)
        except Unauthorized:
            rows = None  # perhaps the secret changed since: decide on fresh rows below
        if rows is not None:
            async with database.session(urgent=True) as session:
                current = tuple(sorted(await _numbers_named(session, routing.phone_number_ids, frozenset())))
                if current == seen:
                    return Stored(received=len(rows), new=await store(session, rows))
    async with database.read_session() as session:
        numbers = tuple(sorted(await _numbers_named(session, routing.phone_number_ids, routing.waba_ids)))
    rows = _verified_rows(box, raw, signature, document, numbers, by_waba=not routing.phone_number_ids)
    if routing.phone_number_ids:
        if len(_numbers_seen) >= 1024:
            _numbers_seen.clear()
        _numbers_seen[key] = numbers
    async with database.session(urgent=True) as session:
        return Stored(received=len(rows), new=await store(session, rows))


def _rows(parsed: Any, org_by_number: dict[str, int]) -> list[dict[str, Any]]:
    now = utcnow()
    rows = []
    for kind, items in (
        (events.STATUS, parsed.statuses), (events.MESSAGE, parsed.messages), (events.PREFERENCE, parsed.user_preferences),
        (events.VALUE_ERRORS, parsed.value_errors),
    ):
        for item in items:
            org_id = org_by_number.get(item.phone_number_id)
            if org_id is None:
                continue  # a number of this app that is not registered here
            rows.append({
                "dedupe_key": events.dedupe_key(kind, item), "kind": kind, "org_id": org_id,
                "phone_number_id": item.phone_number_id, "payload": events.to_payload(item),
                "event_at": item.timestamp, "received_at": now,
            })
    return rows


async def store(session: AsyncSession, rows: list[dict[str, Any]]) -> int:
    """Inserts the events not stored yet; returns how many were new."""
    if not rows:
        return 0
    if is_postgres(session):
        return await _store_postgres(session, rows)
    # One statement for any number of events (executemany): its compiled form is cached, where a
    # multi-row VALUES would be compiled again for each request. The table, not the ORM entity:
    # a Core executemany skips the ORM's bulk-insert bookkeeping.
    stmt = insert(session, _events).on_conflict_do_nothing(index_elements=["dedupe_key"])
    result = await session.execute(stmt.returning(_events.c.id), rows)
    return len(result.all())


# On PostgreSQL a multi-row VALUES (what an executemany with RETURNING becomes) is a new, long query
# text psycopg parses again on each POST (most of the store's time in a profile of the server); the
# rows as one JSON document keep the text constant and short, and cost one orjson call to send.
_INSERT_FROM_JSON = text("""
    INSERT INTO webhook_events (dedupe_key, kind, org_id, phone_number_id, payload, event_at, received_at)
    SELECT dedupe_key, kind, org_id, phone_number_id, payload, event_at, received_at
    FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS r(
        dedupe_key text, kind text, org_id bigint, phone_number_id text, payload jsonb, event_at timestamptz,
        received_at timestamptz)
    ON CONFLICT (dedupe_key) DO NOTHING
    RETURNING id
""")


def _json_rows(rows: list[dict[str, Any]]) -> str:
    try:
        return orjson.dumps(rows).decode()
    except TypeError:  # e.g. an integer past 64 bits, which orjson refuses
        return json.dumps(rows, default=lambda value: value.isoformat())


async def _store_postgres(session: AsyncSession, rows: list[dict[str, Any]]) -> int:
    result = await session.execute(_INSERT_FROM_JSON, {"rows": _json_rows(rows)})
    return len(result.all())
