"""What a simulated user's message looks like, one function per kind, in Meta's documented shapes.

Each function returns the type-specific part of one item of a `messages` webhook (``type`` and its
object, plus ``referral`` or ``identity`` where Meta adds them); ``inbound.inbound_update`` wraps it
with ``from``, ``id``, ``timestamp`` and, for a reply to a message, ``context``. Shapes follow Meta's messages webhook reference
(https://developers.facebook.com/documentation/business-messaging/whatsapp/webhooks/reference/messages)
and the fixtures of pywa (``tests/data/updates/message.json``, ``system.json``, ``deleted_message.json``,
``edited_message.json``, ``flow_completion.json``). ``KINDS`` maps the ``type`` of
``POST /_sim/inbound`` (and of the scenario's ``reply_kinds``) to the function that reads its fields.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import orjson

from herald.simulator.errors import status_error

if TYPE_CHECKING:  # the scenario validates `reply_kinds` against KINDS: no runtime import back
    from herald.simulator.state import SimState

# A few bytes each format's sniffing accepts (``media._content_matches``): the simulator keeps the
# media it "received", so a client can fetch it with `GET /{media_id}` as it would from Meta.
SAMPLE_MEDIA: dict[str, tuple[str, bytes]] = {
    "image": ("image/jpeg", b"\xff\xd8\xff\xe0\x00\x10JFIF\x00simulated image"),
    "video": ("video/mp4", b"\x00\x00\x00\x18ftypmp42simulated video"),
    "audio": ("audio/ogg", b"OggS\x00\x02simulated voice note"),
    "document": ("application/pdf", b"%PDF-1.4\n% simulated document\n"),
    "sticker": ("image/webp", b"RIFF\x1c\x00\x00\x00WEBPVP8 simulated sticker"),
}
MEDIA_KINDS = frozenset(SAMPLE_MEDIA)


class KindError(ValueError):
    """A control request for a kind lacks a field it needs; the message names the field."""


def text(body: str) -> dict[str, Any]:
    return {"type": "text", "text": {"body": body}}


def quick_reply_tap(payload: str, label: str) -> dict[str, Any]:
    """A tap on a template's quick-reply button: `type: button` (not interactive)."""
    return {"type": "button", "button": {"payload": payload, "text": label}}


def reaction(message_id: str, emoji: str) -> dict[str, Any]:
    """A reaction to ``message_id``; reactions carry the target in ``reaction``, not in ``context``."""
    return {"type": "reaction", "reaction": {"message_id": message_id, "emoji": emoji}}


def unreaction(message_id: str) -> dict[str, Any]:
    """A removed reaction: Meta sends the same shape with an empty emoji."""
    return reaction(message_id, "")


def location(latitude: float, longitude: float, *, name: str | None = None, address: str | None = None,
             url: str | None = None) -> dict[str, Any]:
    place: dict[str, Any] = {"latitude": latitude, "longitude": longitude}
    place.update({k: v for k, v in (("name", name), ("address", address), ("url", url)) if v})
    return {"type": "location", "location": place}


def media(state: SimState, kind: str, *, caption: str | None = None, filename: str | None = None,
          voice: bool | None = None, animated: bool | None = None) -> dict[str, Any]:
    """An image, video, audio (voice note with ``voice``), document or sticker, stored in the
    simulator's media store so that its id can be fetched and downloaded like Meta's."""
    mime_type, data = SAMPLE_MEDIA[kind]
    stored = state.media.upload(mime_type, data, state.now())
    item: dict[str, Any] = {"mime_type": mime_type, "sha256": stored.sha256, "id": stored.id}
    if caption and kind in ("image", "video", "document"):
        item["caption"] = caption
    if kind == "document":
        item["filename"] = filename or "document.pdf"
    if kind == "audio":
        item["voice"] = bool(voice)
    if kind == "sticker":
        item["animated"] = bool(animated)
    return {"type": kind, kind: item}


def shared_contacts(cards: list[dict[str, Any]]) -> dict[str, Any]:
    """Contact cards the user shared (``name`` with ``formatted_name``, ``phones`` with ``wa_id``)."""
    return {"type": "contacts", "contacts": cards}


def contact_card(name: str, phone: str, wa_id: str | None = None) -> dict[str, Any]:
    first, _, last = name.partition(" ")
    card_name: dict[str, Any] = {"formatted_name": name, "first_name": first}
    if last:
        card_name["last_name"] = last
    entry: dict[str, Any] = {"phone": phone, "type": "CELL"}
    if wa_id:
        entry["wa_id"] = wa_id
    return {"name": card_name, "phones": [entry]}


def button_reply(button_id: str, title: str) -> dict[str, Any]:
    """A tap on a reply button of an interactive message."""
    interactive = {"type": "button_reply", "button_reply": {"id": button_id, "title": title}}
    return {"type": "interactive", "interactive": interactive}


def list_reply(row_id: str, title: str, description: str | None = None) -> dict[str, Any]:
    row: dict[str, Any] = {"id": row_id, "title": title}
    if description:
        row["description"] = description
    interactive = {"type": "list_reply", "list_reply": row}
    return {"type": "interactive", "interactive": interactive}


def nfm_reply(response: dict[str, Any] | str, *, body: str = "Sent", name: str = "flow") -> dict[str, Any]:
    """A completed WhatsApp Flow: ``response_json`` is a JSON *string*, as Meta sends it."""
    response_json = response if isinstance(response, str) else orjson.dumps(response).decode()
    interactive = {"type": "nfm_reply", "nfm_reply": {"response_json": response_json, "body": body, "name": name}}
    return {"type": "interactive", "interactive": interactive}


def with_referral(content: dict[str, Any], *, source_id: str = "120200000000000001", headline: str = "Sim ad",
                  ctwa_clid: str | None = None) -> dict[str, Any]:
    """The first message of a user who tapped a click-to-WhatsApp ad carries ``referral``."""
    return {**content, "referral": {
        "source_url": f"https://fb.me/{source_id}", "source_id": source_id, "source_type": "ad",
        "headline": headline, "body": "Simulated ad body", "media_type": "image",
        "image_url": "https://scontent.example/sim-ad.jpg",
        "ctwa_clid": ctwa_clid or f"ARA{source_id[-8:]}sim",
    }}


def unsupported(unsupported_type: str) -> dict[str, Any]:
    """A message type Cloud API does not support (e.g. a poll): ``errors[]`` with 131051."""
    return {"type": "unsupported", "unsupported": {"type": unsupported_type}, "errors": [status_error(131051, "new")]}


def revoke(original_message_id: str) -> dict[str, Any]:
    """The user deleted one of their earlier messages."""
    return {"type": "revoke", "revoke": {"original_message_id": original_message_id}}


def edit(original_message_id: str, new_message: dict[str, Any]) -> dict[str, Any]:
    """The user edited an earlier message; ``new_message`` is its new content (``type`` and object)."""
    return {"type": "edit", "edit": {"original_message_id": original_message_id, "message": new_message}}


def user_changed_number(old_wa_id: str, new_wa_id: str, profile_name: str) -> dict[str, Any]:
    """`system` with the new number in ``system.wa_id``; sent from the old number, without contacts."""
    return {"type": "system", "system": {
        "body": f"User {profile_name} changed from {old_wa_id} to {new_wa_id}",
        "wa_id": new_wa_id, "type": "user_changed_number",
    }}


def user_identity_changed(created_at: int, identity_hash: str) -> dict[str, Any]:
    """`system` for a re-installed or new device (identity change check), with ``identity``."""
    return {
        "type": "system",
        "system": {"body": "User identity changed", "type": "customer_identity_changed"},
        "identity": {"acknowledged": True, "created_timestamp": str(created_at), "hash": identity_hash},
    }



# --- Reading a control request (or a scenario reply) into one of the kinds above -----------------

Fields = dict[str, Any]
KindBuilder = Callable[["SimState", Fields], dict[str, Any]]


def _required(fields: Fields, name: str) -> Any:
    value = fields.get(name)
    if value is None or value == "":
        raise KindError(f"'{name}' is required for type '{fields.get('type')}'")
    return value



def _media_builder(kind: str) -> KindBuilder:
    def build(state: SimState, fields: Fields) -> dict[str, Any]:
        return media(state, kind, caption=fields.get("caption"), filename=fields.get("filename"),
                     voice=fields.get("voice"), animated=fields.get("animated"))
    return build


def _changed_number(state: SimState, fields: Fields) -> dict[str, Any]:
    new_wa_id = "".join(ch for ch in str(_required(fields, "new_wa_id")) if ch.isdigit())
    state.unreachable.add(fields["wa_id"])  # the old number has left WhatsApp: later sends fail with 131026
    return user_changed_number(fields["wa_id"], new_wa_id, fields.get("profile_name") or f"Sim User {new_wa_id[-4:]}")


def _identity_changed(state: SimState, fields: Fields) -> dict[str, Any]:
    return user_identity_changed(int(state.now()), str(fields.get("hash") or f"sim{fields['wa_id'][-6:]}"))


def _contacts(state: SimState, fields: Fields) -> dict[str, Any]:
    cards = fields.get("contacts") or [contact_card("Ana Souza", "+55 11 98888-1234", "5511988881234")]
    if not isinstance(cards, list):
        raise KindError("'contacts' must be a list of contact cards")
    return shared_contacts(cards)


KINDS: dict[str, KindBuilder] = {
    "text": lambda s, f: text(str(f.get("text") or "Hi")),
    "referral": lambda s, f: with_referral(text(str(f.get("text") or "Hi, I saw your ad")),
                                           source_id=str(f.get("ad_id") or "120200000000000001")),
    "button": lambda s, f: quick_reply_tap(str(_required(f, "button_payload")),
                                           str(f.get("button_text") or f["button_payload"])),
    "reaction": lambda s, f: reaction(str(_required(f, "message_id")), str(f.get("emoji") or "\N{THUMBS UP SIGN}")),
    "unreaction": lambda s, f: unreaction(str(_required(f, "message_id"))),
    "location": lambda s, f: location(float(f.get("latitude", -23.5614)), float(f.get("longitude", -46.6559)),
                                      name=f.get("name"), address=f.get("address"), url=f.get("url")),
    **{kind: _media_builder(kind) for kind in sorted(MEDIA_KINDS)},
    "contacts": _contacts,
    "button_reply": lambda s, f: button_reply(str(_required(f, "id")), str(f.get("title") or f["id"])),
    "list_reply": lambda s, f: list_reply(str(_required(f, "id")), str(f.get("title") or f["id"]),
                                          f.get("description")),
    "nfm_reply": lambda s, f: nfm_reply(f.get("response_json") or {"flow_token": "sim", "answer": "yes"}),
    "revoke": lambda s, f: revoke(str(_required(f, "original_message_id"))),
    "edit": lambda s, f: edit(str(_required(f, "original_message_id")),
                              {"type": "text", "text": {"body": str(f.get("text") or "(edited)")}}),
    "user_changed_number": _changed_number,
    "user_identity_changed": _identity_changed,
    "unsupported": lambda s, f: unsupported(str(f.get("unsupported_type") or "poll")),
}
# Messages from WhatsApp itself, not from the user's chat: they open no customer-service window.
SYSTEM_KINDS = frozenset({"user_changed_number", "user_identity_changed"})
# Meta's system messages reference: a changed number comes without the `contacts` array.
WITHOUT_CONTACTS = frozenset({"user_changed_number"})
# Kinds that never quote a message (`context`): the target, if any, is inside the object itself.
WITHOUT_CONTEXT = SYSTEM_KINDS | {"reaction", "unreaction", "revoke", "edit"}


def scenario_reply_fields(kind: str, wa_id: str, replied_to: str) -> Fields:
    """What a simulated user's reply of ``kind`` to message ``replied_to`` says (scenario ``reply_kinds``)."""
    new_number = f"{wa_id[:-4]}{(int(wa_id[-4:] or 0) + 1) % 10_000:04d}"
    return {"type": kind, "wa_id": wa_id, "message_id": replied_to, "original_message_id": replied_to,
            "id": "sim_choice", "button_payload": "sim_tap", "new_wa_id": new_number}


def build(state: SimState, fields: Fields) -> dict[str, Any]:
    """The content for ``fields['type']`` (one of ``KINDS``); ``fields['wa_id']`` is the sender."""
    kind = str(fields.get("type") or "text")
    builder = KINDS.get(kind)
    if builder is None:
        raise KindError(f"unknown type '{kind}'; one of: {', '.join(KINDS)}")
    try:
        return builder(state, fields)
    except (TypeError, ValueError) as exc:
        if isinstance(exc, KindError):
            raise
        raise KindError(f"invalid fields for type '{kind}': {exc}") from exc
