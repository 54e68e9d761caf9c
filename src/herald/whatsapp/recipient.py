"""Who a message goes to: a phone (``to``) or a business-scoped user id (``recipient``).

Meta's rules (docs/whatsapp.md, "Username users"): a send names the user by ``to`` (a phone) or by
``recipient`` (a BSUID, or a parent BSUID); when both are given ``to`` wins, and Meta recommends the
phone whenever it is known, so that webhooks keep carrying it. Herald therefore sends to the phone
when the contact has one and to the user id only when it has none.
"""

from __future__ import annotations

import re

# An ISO 3166 alpha-2 country code, a period, up to 128 letters and digits: ``US.13491208655302741918``;
# a parent BSUID has ``ENT.`` after the country: ``US.ENT.11815799212886844830``.
BSUID = re.compile(r"[A-Z]{2}\.(?:ENT\.)?[A-Za-z0-9]{1,128}")
BSUID_RULE = "a WhatsApp user id is a two-letter country code, a period and letters or digits, e.g. US.13491208655302741918"
MAX_BSUID_LENGTH = 3 + 4 + 128


def is_bsuid(value: str) -> bool:
    return BSUID.fullmatch(value) is not None


def address(phone: str | None, user_id: str | None) -> str | None:
    """What a send names the contact by: its E.164 phone, else its user id if Meta accepts that form."""
    if phone:
        return phone
    if user_id and is_bsuid(user_id):
        return user_id
    return None


def recipient_fields(to: str) -> dict[str, str]:
    """The request's recipient field for ``address``'s answer (or a phone, with or without ``+``)."""
    if is_bsuid(to):
        return {"recipient": to}
    # Without "+", Meta prepends the business number's country code (docs/architecture.md, "Sending").
    return {"to": to if to.startswith("+") else "+" + to}
