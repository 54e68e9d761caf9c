"""Request bodies for `POST /{phone-number-id}/messages` (docs/architecture.md, "Sending")."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import orjson

from herald.whatsapp.recipient import recipient_fields

HeaderKind = Literal["image", "video", "document"]
HEADER_KINDS: frozenset[str] = frozenset({"image", "video", "document"})
MAX_CALLBACK_DATA = 512


@dataclass(frozen=True, slots=True)
class HeaderMedia:
    """Media shown in a template's header, by the id returned from an upload."""

    kind: HeaderKind
    media_id: str
    filename: str | None = None  # documents only: the name WhatsApp shows to the contact

    def __post_init__(self) -> None:
        if self.kind not in HEADER_KINDS:
            raise ValueError(f"header kind must be image, video or document, not {self.kind!r}")
        if not self.media_id:
            raise ValueError("header media needs a media id")


def template_message(
    to_e164: str,
    name: str,
    language: str,
    body_params: list[str] | tuple[str, ...] = (),
    header: HeaderMedia | None = None,
    quick_reply_payloads: list[str] | tuple[str, ...] | None = None,
    biz_opaque_callback_data: str | None = None,
) -> dict[str, Any]:
    """A positional template message; quick-reply payload i goes to button index i.

    ``to_e164`` is the contact's phone, or its user id when it has no phone (``recipient.address``)."""
    components: list[dict[str, Any]] = []
    if header is not None:
        components.append(_header_component(header))
    if body_params:
        components.append(
            {"type": "body", "parameters": [{"type": "text", "text": value} for value in body_params]}
        )
    if quick_reply_payloads:
        components.extend(_quick_reply_components(quick_reply_payloads))
    template: dict[str, Any] = {"name": name, "language": {"code": language}}
    if components:
        template["components"] = components
    message: dict[str, Any] = {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        **recipient_fields(to_e164),
        "type": "template",
        "template": template,
    }
    if biz_opaque_callback_data is not None:
        if len(biz_opaque_callback_data) > MAX_CALLBACK_DATA:
            raise ValueError(f"biz_opaque_callback_data is limited to {MAX_CALLBACK_DATA} characters")
        message["biz_opaque_callback_data"] = biz_opaque_callback_data
    return message


def with_marketing_options(message: dict[str, Any], *, activity_sharing: bool | None) -> dict[str, Any]:
    """A template message for Meta's Marketing Messages API (``/marketing_messages``): the same body, plus
    ``message_activity_sharing`` when the number sets it (docs/whatsapp.md, "Marketing Messages API")."""
    if activity_sharing is None:
        return message
    return {**message, "message_activity_sharing": activity_sharing}


def text_message(to: str, body: str, preview_url: bool = False) -> dict[str, Any]:
    """A free-text message (only inside the contact's 24 h customer-service window); ``to`` is a
    phone or a business-scoped user id."""
    return {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        **recipient_fields(to),
        "type": "text",
        "text": {"body": body, "preview_url": preview_url},
    }


def encode(message: dict[str, Any]) -> bytes:
    """Serialize a request body the way the client sends it."""
    return orjson.dumps(message)


def _header_component(header: HeaderMedia) -> dict[str, Any]:
    media: dict[str, str] = {"id": header.media_id}
    if header.kind == "document" and header.filename:
        media["filename"] = header.filename
    return {"type": "header", "parameters": [{"type": header.kind, header.kind: media}]}


def _quick_reply_components(payloads: list[str] | tuple[str, ...]) -> list[dict[str, Any]]:
    return [
        {
            "type": "button",
            "sub_type": "quick_reply",
            "index": str(index),
            "parameters": [{"type": "payload", "payload": payload}],
        }
        for index, payload in enumerate(payloads)
    ]

