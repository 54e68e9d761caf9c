"""Receiving Meta's webhooks: verify the signature over the raw bytes, store each event once, answer.

Nothing is applied here: the applier does that in batches, so the endpoint stays fast whatever
happens downstream (ARCHITECTURE section 4).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy import Row, Table, select
from sqlalchemy.ext.asyncio import AsyncSession

from herald.kit.crypto import SecretBox
from herald.kit.dialect import insert
from herald.kit.errors import HeraldError, Unauthorized
from herald.kit.types import utcnow
from herald.models import WebhookEvent, WhatsAppNumber
from herald.webhooks import events
from herald.whatsapp import WebhookPayloadError, parse_webhook_document, routing_ids, verify_signature
from herald.whatsapp.webhooks import decode_webhook

MAX_BODY_BYTES = 8 * 1024 * 1024  # Meta sends up to 3 MB; leave room, refuse the absurd early


_events: Table = WebhookEvent.__table__  # type: ignore[assignment]


class MalformedWebhook(HeraldError):
    status_code = 400
    code = "malformed_webhook"


@dataclass(frozen=True, slots=True)
class Stored:
    received: int
    new: int


async def _numbers_named(
    session: AsyncSession, phone_number_ids: frozenset[str], waba_ids: frozenset[str]
) -> Sequence[Row[str, int, str]]:
    if phone_number_ids:
        named = WhatsAppNumber.phone_number_id.in_(phone_number_ids)
    elif waba_ids:
        named = WhatsAppNumber.waba_id.in_(waba_ids)
    else:
        return []
    stmt = select(WhatsAppNumber.phone_number_id, WhatsAppNumber.org_id, WhatsAppNumber.app_secret_enc).where(named)
    return (await session.execute(stmt)).all()


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


async def prepare(session: AsyncSession, box: SecretBox, *, raw: bytes, signature: str | None) -> list[dict[str, Any]]:
    """Verifies a POST and turns it into event rows; raises Unauthorized (401) or MalformedWebhook (400).

    Only reads: the CPU work (decoding, HMAC, parsing) happens outside any write transaction.
    """
    if not signature:
        raise Unauthorized("X-Hub-Signature-256 is missing", code="missing_signature")
    try:
        document = decode_webhook(raw)
        routing = routing_ids(document)
    except (WebhookPayloadError, AttributeError) as exc:
        raise MalformedWebhook(f"the body is not a WhatsApp webhook: {exc}") from exc
    numbers = await _numbers_named(session, routing.phone_number_ids, routing.waba_ids)
    if not numbers:
        raise Unauthorized("the webhook names no WhatsApp number registered here", code="unknown_number")
    # Meta signs with the app secret; every number a POST names must share the one that signed it.
    if not all(verify_signature(raw, signature, _app_secret(box, n.app_secret_enc)) for n in numbers):
        raise Unauthorized("the webhook signature does not match the number's app secret", code="bad_signature")
    try:
        parsed = parse_webhook_document(document)
    except WebhookPayloadError as exc:
        raise MalformedWebhook(str(exc)) from exc
    return _rows(parsed, {n.phone_number_id: n.org_id for n in numbers})


async def receive(session: AsyncSession, box: SecretBox, *, raw: bytes, signature: str | None) -> Stored:
    """``prepare`` then ``store`` in one session (for callers without a separate read session)."""
    rows = await prepare(session, box, raw=raw, signature=signature)
    return Stored(received=len(rows), new=await store(session, rows))


def _rows(parsed: Any, org_by_number: dict[str, int]) -> list[dict[str, Any]]:
    now = utcnow()
    rows = []
    for kind, items in (
        (events.STATUS, parsed.statuses), (events.MESSAGE, parsed.messages), (events.PREFERENCE, parsed.user_preferences)
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
    """One statement for every batch size (executemany): its compiled form is cached, where a
    multi-row VALUES would be compiled again for each request."""
    if not rows:
        return 0
    # The table, not the ORM entity: a Core executemany skips the ORM's bulk-insert bookkeeping.
    stmt = insert(session, _events).on_conflict_do_nothing(index_elements=["dedupe_key"])
    result = await session.execute(stmt.returning(_events.c.id), rows)
    return len(result.all())
