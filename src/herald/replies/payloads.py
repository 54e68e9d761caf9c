"""The body a bot flow receives for a reply or another inbound event (docs/architecture.md, "Bot flows
and replies"), serialized once.

Herald's own fields (``campaign``, ``contact``, ``message``) keep their shape; ``whatsapp`` is the
message object exactly as Meta sent it (location, media ids, shared contacts, order, reaction,
``interactive.nfm_reply.response_json``, ``referral``, ``context``…). The bytes are stored with the
delivery: every retry sends exactly what was signed the first time.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson

from herald.models import Campaign
from herald.whatsapp import InboundMessage

REPLY_TYPE = "campaign.reply"


def iso_utc(at: datetime) -> str:
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


def campaign_part(campaign: Campaign) -> dict[str, Any]:
    return {
        "id": campaign.id, "name": campaign.name, "kind": campaign.kind,
        "template": {"name": campaign.template_name, "language": campaign.template_language},
    }


def message_part(message: InboundMessage) -> dict[str, Any]:
    """Optional keys are left out rather than null, as docs/architecture.md marks them optional."""
    part: dict[str, Any] = {"id": message.wamid, "type": message.type}
    if message.text is not None:
        part["text"] = message.text
    if message.type == "button":
        part["button"] = {"payload": message.button_payload, "text": message.button_text}
    if message.interactive_id is not None:
        part["interactive"] = {
            "type": message.interactive_type, "id": message.interactive_id, "title": message.interactive_title,
        }
    if message.context_id is not None:
        part["context_id"] = message.context_id
    part["timestamp"] = iso_utc(message.timestamp)
    return part


def reply_body(campaign: Campaign, contact: dict[str, Any], message: InboundMessage, *,
               event_type: str = REPLY_TYPE) -> str:
    """``event_type`` is ``campaign.reply`` for a reply, else the event the message is
    (``herald.webhooks.inbound_kinds``: ``reaction.removed``, ``message.deleted``…)."""
    document: dict[str, Any] = {"type": event_type, "campaign": campaign_part(campaign), "contact": contact,
                                "message": message_part(message)}
    if message.raw is not None:
        document["whatsapp"] = message.raw
    return orjson.dumps(document).decode()
