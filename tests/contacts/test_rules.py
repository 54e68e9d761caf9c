from __future__ import annotations

import pytest

from herald.contacts.e164 import to_e164
from herald.contacts.rules import normalize_phone
from herald.kit.errors import Invalid


class TestToE164:
    @pytest.mark.parametrize(
        ("raw", "e164"),
        [
            ("+33 6 12 34 56 78", "+33612345678"),
            ("33612345678", "+33612345678"),
            ("+1 (415) 555-2671", "+14155552671"),
            ("  447911123456 ", "+447911123456"),
        ],
    )
    def test_numbers_with_a_country_code_become_e164(self, raw: str, e164: str) -> None:
        assert to_e164(raw) == e164

    @pytest.mark.parametrize("raw", ["123", "", "   ", "0612345678x", "not a phone", "+1" + "2" * 80])
    def test_invalid_or_countryless_numbers_are_refused(self, raw: str) -> None:
        assert to_e164(raw) is None


class TestNormalizePhone:
    def test_invalid_phone_names_the_field(self) -> None:
        with pytest.raises(Invalid) as caught:
            normalize_phone("123", field="phone")
        assert caught.value.status_code == 422
        assert caught.value.details == [{"field": "phone", "message": caught.value.message}]
