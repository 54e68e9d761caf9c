"""Phone parsing (``to_e164`` / ``normalize_phone``) over generated numbers and generated garbage."""

from __future__ import annotations

import re

import phonenumbers
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from phonenumbers import PhoneNumberFormat, PhoneNumberType

from herald.contacts.e164 import MAX_RAW_LENGTH, to_e164
from herald.contacts.rules import normalize_phone
from herald.kit.errors import Invalid

E164 = re.compile(r"^\+[1-9]\d{6,14}$")
REGIONS = sorted(phonenumbers.SUPPORTED_REGIONS)
TYPES = [PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE, PhoneNumberType.TOLL_FREE]
# Formats that carry the country code: without it no region is assumed, so NATIONAL is not one.
WITH_COUNTRY_CODE = [PhoneNumberFormat.E164, PhoneNumberFormat.INTERNATIONAL, PhoneNumberFormat.RFC3966]


@st.composite
def valid_numbers(draw: st.DrawFn) -> phonenumbers.PhoneNumber:
    """A valid number of some region: an example number with its last digits redrawn."""
    region = draw(st.sampled_from(REGIONS))
    kind = draw(st.sampled_from(TYPES))
    example = phonenumbers.example_number_for_type(region, kind)
    assume(example is not None)
    assert example is not None
    national = str(example.national_number)
    keep = max(len(national) - draw(st.integers(1, 4)), 1)
    tail = draw(st.text(alphabet="0123456789", min_size=len(national) - keep, max_size=len(national) - keep))
    number = phonenumbers.PhoneNumber(country_code=example.country_code, national_number=int(national[:keep] + tail),
                                      italian_leading_zero=example.italian_leading_zero)
    assume(phonenumbers.is_valid_number(number))
    return number


class TestToE164:
    @settings(max_examples=200, deadline=None)
    @given(number=valid_numbers(), fmt=st.sampled_from(WITH_COUNTRY_CODE), padding=st.sampled_from(["", " ", "\t"]))
    def test_a_valid_number_with_its_country_code_parses_back_to_the_same_e164(
        self, number: phonenumbers.PhoneNumber, fmt: int, padding: str
    ) -> None:
        expected = phonenumbers.format_number(number, PhoneNumberFormat.E164)
        assert to_e164(padding + phonenumbers.format_number(number, fmt) + padding) == expected

    @settings(max_examples=100, deadline=None)
    @given(number=valid_numbers())
    def test_the_plus_may_be_dropped(self, number: phonenumbers.PhoneNumber) -> None:
        expected = phonenumbers.format_number(number, PhoneNumberFormat.E164)
        assert to_e164(expected.lstrip("+")) == expected

    @settings(max_examples=200, deadline=None)
    @given(raw=st.one_of(
        st.text(max_size=80),
        st.text(alphabet="+0123456789 -().", max_size=30),
        st.from_regex(r"\+?[0-9]{1,20}", fullmatch=True),
    ))
    def test_any_text_gives_none_or_a_valid_e164_that_is_a_fixed_point(self, raw: str) -> None:
        e164 = to_e164(raw)
        if e164 is None:
            return
        assert E164.match(e164), e164
        assert len(raw.strip()) <= MAX_RAW_LENGTH
        assert phonenumbers.is_valid_number(phonenumbers.parse(e164, None))
        assert to_e164(e164) == e164


class TestNormalizePhone:
    @settings(max_examples=200, deadline=None)
    @given(raw=st.text(max_size=100))
    def test_garbage_raises_only_the_domain_invalid_error(self, raw: str) -> None:
        try:
            e164 = normalize_phone(raw, field="to")
        except Invalid as exc:
            assert exc.status_code == 422
            assert exc.code == "invalid_phone"
            assert exc.details == [{"field": "to", "message": exc.message}]
        else:
            assert E164.match(e164), e164

    @pytest.mark.parametrize("raw", ["", " ", "+", "0", "1" * 65, "+1 415 555 2671 ext. 1" + "9" * 60])
    def test_edge_inputs_are_refused_cleanly(self, raw: str) -> None:
        with pytest.raises(Invalid):
            normalize_phone(raw)
