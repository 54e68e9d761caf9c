"""`POST /{phone-id}/marketing_messages`: Meta's Marketing Messages API for WhatsApp.

The same request and answer as ``/messages`` (``sending.py``) for a MARKETING template, plus the
optional ``message_activity_sharing`` and ``product_policy``. Sources, also in docs/whatsapp.md,
"Marketing Messages API":

- Meta's reference, "Marketing Messages API for WhatsApp" (``POST /{Version}/{Phone-Number-ID}/
  marketing_messages``): body messaging_product, recipient_type, to, type "template", template,
  optional message_activity_sharing and product_policy; answer contacts, messages[{id}],
  messaging_product and success.
- Meta's MM Lite API "Support" page (developers.facebook.com/docs/whatsapp/marketing-messages-lite-api/
  support): a message that is not a template, (#100) "Message must be a template message."; a
  utility or authentication template, refused (131055 "Method not allowed" in 360dialog's copy,
  docs.360dialog.com .../mm-lite-beta-program/expected-errors-and-programming-languages).
- A number whose business has not accepted the API's terms: 360dialog's "Expected errors" (MM Lite
  sandbox) shows ``"message": "(#200) You must accept the Marketing Messages Lite API terms to use
  the API."`` with ``"code": 131055``, which the simulator answers word for word.
- Status webhooks of these messages price them ``marketing_lite`` (``pricing.category`` and, before
  v24, ``conversation.origin.type``): Meta's MM Lite API "Get started" page.
"""

from __future__ import annotations

from typing import Any

from herald.simulator.errors import GraphError
from herald.simulator.scenario import PhoneNumber

ENDPOINT = "marketing_messages"
PRICING_CATEGORY = "marketing_lite"
TERMS_MESSAGE = "(#200) You must accept the Marketing Messages Lite API terms to use the API."
NOT_ALLOWED = 131055
# What the body may carry: /messages' template fields and the API's own options.
FIELDS = frozenset({
    "messaging_product", "recipient_type", "to", "recipient", "type", "template", "biz_opaque_callback_data",
    "message_activity_sharing", "product_policy",
})
PRODUCT_POLICIES = frozenset({"CLOUD_API_FALLBACK", "STRICT"})


def check_request(number: PhoneNumber, body: dict[str, Any]) -> bool | None:
    """Meta's checks before the send itself; returns the message's ``message_activity_sharing`` (None: left out)."""
    if not number.marketing_messages_terms_accepted:
        raise GraphError(NOT_ALLOWED, "You must accept the Marketing Messages Lite API terms to use the API.",
                         full_message=TERMS_MESSAGE)
    if body.get("type") != "template":
        raise GraphError(100, "Message must be a template message.")
    unknown = sorted(set(body) - FIELDS)
    if unknown:
        raise GraphError(100, f"Invalid parameter: {', '.join(unknown)} is not a parameter of marketing_messages.")
    sharing = body.get("message_activity_sharing")
    if sharing is not None and not isinstance(sharing, bool):
        raise GraphError(100, "Invalid parameter message_activity_sharing: it must be true or false.")
    policy = body.get("product_policy")
    if policy is not None and policy not in PRODUCT_POLICIES:
        raise GraphError(100, f"Invalid parameter product_policy: one of {', '.join(sorted(PRODUCT_POLICIES))}.")
    return sharing


def check_category(category: str | None) -> None:
    """Only MARKETING templates: a utility or authentication one keeps ``/messages``."""
    if (category or "").upper() != "MARKETING":
        raise GraphError(NOT_ALLOWED, "Only marketing templates can be sent through the Marketing Messages API; "
                                      "send utility and authentication templates to /messages.")


def answer(sent: dict[str, Any]) -> dict[str, Any]:
    """The success answer in the reference's example: contacts, messages[{id}] (no ``message_status``),
    messaging_product and ``success``."""
    messages = [{"id": m["id"]} for m in sent.get("messages") or []]
    return {"contacts": sent.get("contacts") or [], "messages": messages, "messaging_product": "whatsapp",
            "success": True}
