"""What a valid contact is: phones (→ E.164 by ``e164.to_e164``), tags, valued tags, timezones.

Shared by the API, the CSV import, the UI and the campaign bindings, so a value is accepted by one
exactly when the others would."""

from __future__ import annotations

import re
from collections.abc import Sequence
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from herald.contacts.e164 import to_e164
from herald.kit.errors import Invalid
from herald.whatsapp.recipient import BSUID_RULE, MAX_BSUID_LENGTH, is_bsuid

MAX_NAME_LENGTH = 200
MAX_TAG_LENGTH = 100
MAX_VALUED_TAG_KEY_LENGTH = 64
MAX_VALUED_TAG_VALUE_LENGTH = 500
# A valued tag key is a short identifier: it names a column of the CSV (``vt:KEY``), a variable's
# source and a segment clause, and it comes back in reports ("valued tag 'KEY' missing").
VALUED_TAG_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
VALUED_TAG_KEY_RULE = (
    f"ASCII letters, digits, '_', '-' and '.', starting with a letter or a digit, "
    f"at most {MAX_VALUED_TAG_KEY_LENGTH} characters"
)


def normalize_phone(raw: str, *, field: str = "phone") -> str:
    """E.164 or a 422 naming ``field``."""
    e164 = to_e164(raw)
    if e164 is None:
        raise Invalid(
            f"invalid phone '{raw}': give a valid number with its country code, e.g. +14155552671",
            field=field,
            code="invalid_phone",
        )
    return e164


def user_id_problem(user_id: str) -> str | None:
    """Why ``user_id`` is not a WhatsApp business-scoped user id (docs/whatsapp.md, "Username users")."""
    if len(user_id) > MAX_BSUID_LENGTH or not is_bsuid(user_id):
        shown = user_id if len(user_id) <= 40 else user_id[:40] + "…"
        return f"invalid wa_user_id '{shown}': {BSUID_RULE}"
    return None


def normalize_user_id(raw: str, *, field: str = "wa_user_id") -> str:
    """The user id as Meta writes it (surrounding spaces dropped), or a 422 naming ``field``."""
    user_id = raw.strip()
    if problem := user_id_problem(user_id):
        raise Invalid(problem, field=field, code="invalid_user_id")
    return user_id


def tag_problem(name: str) -> str | None:
    if not name:
        return "a tag is empty"
    if len(name) > MAX_TAG_LENGTH:
        return f"tag '{name[:20]}…' is longer than {MAX_TAG_LENGTH} characters"
    return None


def valued_tag_key_problem(key: str) -> str | None:
    """Why ``key`` is not a valued tag key (see ``VALUED_TAG_KEY_RULE``), or None."""
    if not key:
        return "a valued tag key is empty"
    if len(key) > MAX_VALUED_TAG_KEY_LENGTH:
        return f"valued tag key '{key[:20]}…' is longer than {MAX_VALUED_TAG_KEY_LENGTH} characters"
    if not VALUED_TAG_KEY.fullmatch(key):
        shown = key if len(key) <= 40 else key[:40] + "…"
        return f"valued tag key '{shown}' is not valid: use {VALUED_TAG_KEY_RULE}"
    return None


def valued_tag_problem(key: str, value: str | None) -> str | None:
    if problem := valued_tag_key_problem(key):
        return problem
    if value is not None and len(value) > MAX_VALUED_TAG_VALUE_LENGTH:
        return f"value of valued tag '{key}' is longer than {MAX_VALUED_TAG_VALUE_LENGTH} characters"
    if value is not None and not value:
        return f"value of valued tag '{key}' is empty"
    return None


def name_problem(name: str) -> str | None:
    if len(name) > MAX_NAME_LENGTH:
        return f"name is longer than {MAX_NAME_LENGTH} characters"
    return None


def timezone_problem(timezone: str) -> str | None:
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        return f"unknown timezone '{timezone}' (use an IANA name such as Europe/Paris)"
    return None


def clean_tags(tags: list[str], *, field: str = "tags") -> list[str]:
    """Stripped, de-duplicated tags in the order given, or a 422 naming ``field``."""
    cleaned = list(dict.fromkeys(t.strip() for t in tags))
    for tag in cleaned:
        if problem := tag_problem(tag):
            raise Invalid(problem, field=field)
    return cleaned


def clean_valued_tags(valued_tags: dict[str, str | None], *, field: str = "valued_tags") -> dict[str, str | None]:
    """Stripped keys → values (None kept: it means "delete this key" on PATCH), or a 422.

    A key to delete needs only to be non-empty: keys stored before the key rule existed can be removed."""
    cleaned: dict[str, str | None] = {}
    for key, value in valued_tags.items():
        key = key.strip()
        if value is None:
            if not key:
                raise Invalid("a valued tag key is empty", field=field)
        elif problem := valued_tag_key_problem(key):
            raise Invalid(problem, field=field)
        elif problem := valued_tag_problem(key, value):
            raise Invalid(problem, field=f"{field}.{key}")
        cleaned[key] = value
    return cleaned


# Bounds on what one contact holds, and on a search. A tag or valued tag beyond these is refused
# (the API with 422 naming the field, a CSV row rejected with the reason), never silently dropped.
MAX_TAGS_PER_CONTACT = 100
MAX_VALUED_TAGS_PER_CONTACT = 100
# SQLite refuses LIKE patterns over 50,000 bytes with an error: a search is refused long before that.
MAX_SEARCH_LENGTH = 200
MAX_SEARCH_FILTERS = 20
MAX_VALUED_TAG_SPEC = MAX_VALUED_TAG_KEY_LENGTH + 1 + MAX_VALUED_TAG_VALUE_LENGTH  # KEY=VALUE
NUL = "\x00"


def nul_problem(what: str, text: str) -> str | None:
    """PostgreSQL cannot store a NUL character in text (SQLite can): refused on both alike."""
    return f"{what} contains a NUL character" if NUL in text else None


def counts_problem(tags: int, valued_tags: int) -> tuple[str, str] | None:
    """(field, reason) when a contact would hold more tags or valued tags than allowed."""
    if tags > MAX_TAGS_PER_CONTACT:
        return "tags", f"a contact has at most {MAX_TAGS_PER_CONTACT} tags ({tags} given)"
    if valued_tags > MAX_VALUED_TAGS_PER_CONTACT:
        return "valued_tags", f"a contact has at most {MAX_VALUED_TAGS_PER_CONTACT} valued tags ({valued_tags} given)"
    return None


def phone_part_of_search(q: str) -> str:
    """The digits (and ``+``) a search means as part of a phone, when it reads as one: "+33 6 12" is
    looked for as +33612…, while "Vip 12" is a name, not every phone holding a 12. Empty otherwise."""
    if not all(ch.isdigit() or ch in "+ -()./" for ch in q):
        return ""
    return "".join(ch for ch in q if ch.isdigit() or ch == "+")


def check_search(q: str | None, tags: Sequence[str], valued_tags: Sequence[str]) -> None:
    """A contact search within bounds, or a 422 naming the parameter."""
    if q is not None and len(q) > MAX_SEARCH_LENGTH:
        raise Invalid(f"q is longer than {MAX_SEARCH_LENGTH} characters", field="q")
    for field, values, longest in (("tag", tags, MAX_TAG_LENGTH), ("valued_tag", valued_tags, MAX_VALUED_TAG_SPEC)):
        if len(values) > MAX_SEARCH_FILTERS:
            raise Invalid(f"at most {MAX_SEARCH_FILTERS} {field} filters", field=field)
        if any(len(value) > longest for value in values):
            raise Invalid(f"a {field} filter is longer than {longest} characters", field=field)
