"""E.164 holds 15 digits at most, country code included. libphonenumber's metadata calls a few longer
German numbers valid (``+49`` and 14 national digits, found by the property test in
tests/properties/test_phone_rules.py); WhatsApp cannot address them, so Herald refuses them, through
the shortcut for digits and through the full parse alike."""

from __future__ import annotations

import phonenumbers
import pytest

from herald.contacts.e164 import to_e164, to_e164_full


@pytest.mark.parametrize("raw", ["4930000000000000", "+4930000000000000", "+49 30 000000000000 0"])
def test_a_number_longer_than_15_digits_is_refused(raw: str) -> None:
    assert phonenumbers.is_valid_number(phonenumbers.parse("+4930000000000000", None))  # what libphonenumber says
    assert to_e164(raw) is None
    assert to_e164_full(raw) is None


def test_15_digits_are_kept() -> None:
    assert to_e164("+49300000000000") == to_e164_full("+49300000000000") == "+49300000000000"
