"""Account-level webhook fields (templates, number quality and limits, the account) as stored rows, and back.

These changes name a WhatsApp Business Account (``entry.id``), not a phone number: each is stored
once per organization with a number in that WABA whose app secret verified the POST (the numbers the
receiver looked up), with the WABA id where a messaging event keeps its phone number id.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from herald.webhooks import events
from herald.webhooks.events import StoredEvent, mark
from herald.whatsapp import (
    AccountUpdate,
    ParsedWebhook,
    TemplateCategoryUpdate,
    TemplateQualityUpdate,
    TemplateStatusUpdate,
)
from herald.whatsapp.events import NumberQualityUpdate

WabaEvent = TemplateStatusUpdate | TemplateQualityUpdate | TemplateCategoryUpdate | NumberQualityUpdate | AccountUpdate

# The webhook field each kind comes from (Meta's names, shown in the histories).
FIELDS = {
    events.TEMPLATE_STATUS: "message_template_status_update",
    events.TEMPLATE_QUALITY: "message_template_quality_update",
    events.TEMPLATE_CATEGORY: "template_category_update",
    events.NUMBER_QUALITY: "phone_number_quality_update",
    events.ACCOUNT_UPDATE: "account_update",
}
_TYPES: dict[str, type[Any]] = {
    events.TEMPLATE_STATUS: TemplateStatusUpdate,
    events.TEMPLATE_QUALITY: TemplateQualityUpdate,
    events.TEMPLATE_CATEGORY: TemplateCategoryUpdate,
    events.NUMBER_QUALITY: NumberQualityUpdate,
    events.ACCOUNT_UPDATE: AccountUpdate,
}
_TIMES = ("timestamp", "category_update_at")
ORG = "org_id"  # added to the payload: the organization the row was stored for


def parsed_events(parsed: ParsedWebhook) -> Iterable[tuple[str, WabaEvent]]:
    for kind, items in (
        (events.TEMPLATE_STATUS, parsed.template_status_updates),
        (events.TEMPLATE_QUALITY, parsed.template_quality_updates),
        (events.TEMPLATE_CATEGORY, parsed.template_category_updates),
        (events.NUMBER_QUALITY, parsed.number_quality_updates),
        (events.ACCOUNT_UPDATE, parsed.account_updates),
    ):
        for item in items:
            yield kind, item


def rows(parsed: ParsedWebhook, numbers: Sequence[tuple[str, int, str, str]], now: datetime) -> list[dict[str, Any]]:
    """One row per event and organization; ``numbers`` are (phone number id, org, secret, WABA) verified."""
    orgs_by_waba: dict[str, set[int]] = {}
    for _, org_id, _, waba_id in numbers:
        orgs_by_waba.setdefault(waba_id, set()).add(org_id)
    out = []
    for kind, item in parsed_events(parsed):
        payload = events.to_payload(item)
        digest = _digest(kind, payload)
        for org_id in sorted(orgs_by_waba.get(item.waba_id, ())):
            out.append({
                "dedupe_key": f"w:{org_id}:{digest}", "kind": kind, "org_id": org_id,
                "phone_number_id": item.waba_id[:64], "payload": {**payload, ORG: org_id}, "event_at": item.timestamp,
                "received_at": now,
            })
    return out


def _digest(kind: str, payload: dict[str, Any]) -> str:
    """Meta's retries repeat the change and its entry.time: equal bytes, one key."""
    text = json.dumps(payload, sort_keys=True, default=str)
    return hashlib.sha256(f"{kind}:{text}".encode()).hexdigest()[:48]


def org_of(payload: dict[str, Any]) -> int:
    return int(payload[ORG])


def event_from(kind: str, payload: dict[str, Any]) -> Any:
    """The stored payload as the parsed event again."""
    data = dict(payload)
    data.pop(ORG, None)
    for name in _TIMES:
        if isinstance(data.get(name), str):
            data[name] = datetime.fromisoformat(data[name])
    return _TYPES[kind](**data)


_EARLIEST = datetime.min.replace(tzinfo=UTC)


def in_meta_order(rows: list[StoredEvent]) -> list[tuple[StoredEvent, int, Any]]:
    """Each stored row with its organization and parsed event, in Meta's order (``entry.time``, then
    arrival); a row it cannot read (stored by another version of Herald) is marked ``unreadable``, so
    it never blocks a round."""
    items = []
    for row in rows:
        try:
            items.append((row, org_of(row.payload), event_from(row.kind, row.payload)))
        except (TypeError, ValueError, KeyError):
            mark(row, "unreadable")
    items.sort(key=lambda item: (item[2].timestamp or _EARLIEST, item[0].id))
    return items
