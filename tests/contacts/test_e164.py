"""The phone shortcut (``e164.to_e164``) must answer exactly as the full check (``e164.to_e164_full``) does."""

from __future__ import annotations

import random

import phonenumbers
import pytest
from phonenumbers import COUNTRY_CODE_TO_REGION_CODE, PhoneNumberFormat, PhoneNumberType

from herald.contacts import e164

TYPES = (PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE, PhoneNumberType.TOLL_FREE, PhoneNumberType.VOIP)


def numbers_of_every_country() -> list[str]:
    """Valid examples of each region and type, as E.164 and bare digits, and near misses of them:
    a digit changed, one too few, one too many, a trunk 0 kept after the country code; plus
    random digit strings after each country code."""
    rng = random.Random(8)
    cells: set[str] = set()
    for country_code, regions in COUNTRY_CODE_TO_REGION_CODE.items():
        for region in regions:
            for kind in TYPES:
                example = phonenumbers.example_number_for_type(region, kind) if region != "001" else None
                if example is None:
                    continue
                digits = phonenumbers.format_number(example, PhoneNumberFormat.E164)[1:]
                cells |= {"+" + digits, digits, "+" + digits[:-1], "+" + digits + "5"}
                cells.add(f"+{country_code}0{digits[len(str(country_code)):]}")
                at = rng.randrange(len(digits))
                cells.add("+" + digits[:at] + str(rng.randrange(10)) + digits[at + 1 :])
        for _ in range(5):
            cells.add(f"+{country_code}" + "".join(rng.choice("0123456789") for _ in range(rng.randrange(15))))
    return sorted(cells)


class TestToE164:
    def test_agrees_with_the_full_check_for_numbers_of_every_country(self) -> None:
        cells = numbers_of_every_country()
        answers = [(c, e164.to_e164_full(c), e164.to_e164(c)) for c in cells]
        disagreements = [(c, full, fast) for c, full, fast in answers if full != fast]
        assert disagreements == []
        assert sum(1 for _, full, _ in answers if full) > 1000  # both valid and invalid ones were tried

    @pytest.mark.parametrize(
        ("raw", "expected"),
        [
            ("+33612345678", "+33612345678"),
            (" 33612345678 ", "+33612345678"),
            ("+330612345678", "+33612345678"),  # France's trunk 0, stripped as libphonenumber does
            ("+33 6 12 34 56 78", "+33612345678"),
            ("+3361234567", None),
            ("+999123456789", None),  # no such country code
            ("12", None),
            ("+٣٣٦١٢٣٤٥٦٧٨", "+33612345678"),  # non-ASCII digits: the full path
        ],
    )
    def test_answers_as_the_full_check(self, raw: str, expected: str | None) -> None:
        assert e164.to_e164(raw) == e164.to_e164_full(raw) == expected
