"""Every phone in Herald becomes E.164 here: the contacts API and UI (through
``rules.normalize_phone``), the CSV import, a campaign's test send and the replies all call
``to_e164``, so a number one of them accepts names the same contact in the others.

``to_e164_full`` is the whole check: libphonenumber parses the text (the number must carry its
country code; the ``+`` may be left out) and says whether the number is valid. ``to_e164`` answers
exactly as it does, with a shortcut for the usual CSV cell: a number already written as digits with
its country code (``+33612345678`` or ``33612345678``).

``phonenumbers.parse`` is ~70% of the cost of checking such a number, mostly spent on what it
cannot contain: RFC 3966 contexts, extensions, letters, punctuation, an IDD prefix. For those
cells the shortcut builds the ``PhoneNumber`` that ``parse`` would (its country code is the first
1–3 digits that name one, the rest the national number) and asks libphonenumber the same
question, ``is_valid_number``. Every case where ``parse`` would do more — a national prefix it
might strip, leading zeros, a prefix naming no country, too few digits — takes the full path.
The test suite checks both paths agree over numbers of every country code.
"""

from __future__ import annotations

import re
from functools import cache

import phonenumbers
from phonenumbers import COUNTRY_CODE_TO_REGION_CODE, PhoneMetadata, PhoneNumber

MAX_RAW_LENGTH = 64
# E.164 allows 15 digits at most, country code included; libphonenumber's metadata accepts a few
# longer German numbers (+49 with 14 national digits), which WhatsApp cannot address.
MAX_E164_DIGITS = 15

# ASCII digits only, no leading zero, at least 3 digits after the country code's first one:
# anything else is left to ``parse``. 17 digits is at most 3 for the country + 14 national.
_DIGITS_WITH_COUNTRY_CODE = re.compile(r"\+?([1-9][0-9]{2,16})")
_MIN_NATIONAL_DIGITS = 2  # phonenumbers' _MIN_LENGTH_FOR_NSN


def to_e164_full(raw: str) -> str | None:
    """The E.164 form of a number that carries its country code (``+`` optional), or None."""
    text = raw.strip()
    if not text or len(text) > MAX_RAW_LENGTH:
        return None
    # Without a default region a number must carry its country code; people often drop the '+'.
    candidates = [text] if text.startswith("+") else [text, "+" + text] if "+" in text else ["+" + text]
    for candidate in candidates:
        try:
            number = phonenumbers.parse(candidate, None)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(number):
            e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
            return e164 if len(e164) - 1 <= MAX_E164_DIGITS else None
    return None


@cache
def _national_prefix(country_code: int) -> re.Pattern[str] | None:
    """The pattern ``parse`` matches to strip a national prefix (e.g. France's 0), if any."""
    region = phonenumbers.region_code_for_country_code(country_code)
    metadata = PhoneMetadata.metadata_for_region_or_calling_code(country_code, region)
    if metadata is None:  # pragma: no cover — every calling code in the table has metadata
        return re.compile("")  # matches everything: always the full path
    prefix = metadata.national_prefix_for_parsing
    return re.compile(prefix) if prefix else None


def _split(digits: str) -> tuple[int, str] | None:
    for size in (1, 2, 3):
        country_code = int(digits[:size])
        if country_code in COUNTRY_CODE_TO_REGION_CODE:
            return country_code, digits[size:]
    return None


def to_e164(raw: str) -> str | None:
    """Exactly ``to_e164_full(raw)``, faster for digits written with their country code."""
    text = raw.strip()
    match = _DIGITS_WITH_COUNTRY_CODE.fullmatch(text)
    split = _split(match[1]) if match else None
    if match is None or split is None or len(match[1]) > MAX_E164_DIGITS:
        return to_e164_full(raw)
    country_code, national = split
    prefix = _national_prefix(country_code)
    if (
        len(national) < _MIN_NATIONAL_DIGITS
        or national[0] == "0"
        or (prefix is not None and prefix.match(national))
    ):
        return to_e164_full(raw)
    number = PhoneNumber(country_code=country_code, national_number=int(national))
    return "+" + match[1] if phonenumbers.is_valid_number(number) else None
