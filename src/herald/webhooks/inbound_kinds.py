"""What an inbound message is: a reply of the contact's own, or something else Meta tells us.

One table, by the message's ``type`` (docs/whatsapp.md, "Inbound messages: what is a reply", with
the page of Meta's Cloud API "messages" webhook reference each row comes from). A **reply** is
counted in "replied", sets the campaign message's ``replied_at`` and goes to the bot flow as
``campaign.reply``. Anything else is stored whole and shown on the contact's page, never counted;
it goes to the bot flow as its own event type when a bot can act on it (``bot_event``), else not at
all.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from herald.whatsapp import InboundMessage


@dataclass(frozen=True, slots=True)
class Kind:
    name: str
    reply: bool
    bot_event: str | None  # the event type a bot flow receives; None: not forwarded
    label: str  # how the contact's page names it


REPLY = Kind("reply", reply=True, bot_event="campaign.reply", label="reply")
UNREACTION = Kind("unreaction", reply=False, bot_event="reaction.removed", label="reaction removed")
DELETED = Kind("deleted", reply=False, bot_event="message.deleted", label="message deleted")
EDITED = Kind("edited", reply=False, bot_event="message.edited", label="message edited")
SYSTEM = Kind("system", reply=False, bot_event="contact.system", label="system")
UNSUPPORTED = Kind("unsupported", reply=False, bot_event=None, label="unsupported by WhatsApp")
ERROR_ONLY = Kind("error", reply=False, bot_event=None, label="error only")
CHAT_OPENED = Kind("chat_opened", reply=False, bot_event=None, label="opened the chat")

# type → (kind, its page of Meta's reference: developers.facebook.com/documentation/business-messaging/
# whatsapp/webhooks/reference/messages/<page>)
KINDS: dict[str, tuple[Kind, str]] = {
    "text": (REPLY, "text"),
    "button": (REPLY, "button"),
    "interactive": (REPLY, "interactive"),  # button_reply, list_reply, nfm_reply (Flows)
    "image": (REPLY, "image"),
    "audio": (REPLY, "audio"),
    "video": (REPLY, "video"),
    "document": (REPLY, "document"),
    "sticker": (REPLY, "sticker"),
    "location": (REPLY, "location"),
    "contacts": (REPLY, "contacts"),
    "order": (REPLY, "order"),
    "reaction": (REPLY, "reaction"),  # with an emoji; without one (or "") it is an UNREACTION
    "system": (SYSTEM, "system"),  # user_changed_number, user_changed_user_id, user/customer_identity_changed
    "revoke": (DELETED, "revoke"),
    "edit": (EDITED, "edit"),
    "unsupported": (UNSUPPORTED, "unsupported"),
    "unknown": (UNSUPPORTED, "unsupported"),
    "request_welcome": (CHAT_OPENED, "request_welcome"),
}


def classify(message: InboundMessage) -> Kind:
    """The message's kind. A type not in the table is the user's own message if it carries its
    object (a type Meta added since); a message whose object is missing and that carries errors
    (its own or its value's) is an error and nothing else."""
    raw = message.raw
    known = KINDS.get(message.type)
    if raw is None:  # stored before Herald kept the whole message: as it was applied then
        return known[0] if known else REPLY
    content = raw.get(message.type)
    if message.type == "reaction":
        return REPLY if isinstance(content, Mapping) and content.get("emoji") else UNREACTION
    if known is not None and not known[0].reply:
        return known[0]
    if isinstance(content, Mapping):
        return REPLY
    if message.errors:
        return ERROR_ONLY
    return UNSUPPORTED if known is None else REPLY
