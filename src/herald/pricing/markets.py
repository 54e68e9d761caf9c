"""A recipient's market: the row of Meta's rate card a message to that phone is priced at.

Meta prices by the recipient's country calling code, in markets: some countries have a row of
their own (``NAMED``), the others are grouped in regions ("Rest of Africa", ...) and whatever is in
none of them is "Other" (Meta's rate card lists which country is in which). ``market_of`` tries, in
order, the country's own market, its region, then "Other", and returns the first the card has a row
for: a card without a row for a country still prices it, at its region.
"""

from __future__ import annotations

from collections.abc import Container

import phonenumbers

OTHER = "Other"
# Where a phone number gives no country (no phone, or one phonenumbers cannot place).
UNKNOWN_REGION = "ZZ"

# Countries with a market of their own in Meta's rate card (ISO region → market name).
NAMED = {
    "AR": "Argentina", "BR": "Brazil", "CL": "Chile", "CO": "Colombia", "EG": "Egypt", "FR": "France",
    "DE": "Germany", "IN": "India", "ID": "Indonesia", "IL": "Israel", "IT": "Italy", "MY": "Malaysia",
    "MX": "Mexico", "NL": "Netherlands", "NG": "Nigeria", "PK": "Pakistan", "PE": "Peru", "RU": "Russia",
    "SA": "Saudi Arabia", "ZA": "South Africa", "ES": "Spain", "TR": "Turkey", "AE": "United Arab Emirates",
    "GB": "United Kingdom", "US": "North America", "CA": "North America",
}

_REGIONS = {
    "Rest of Africa": (
        "DZ AO BJ BW BF BI CM TD CG ER ET GA GM GH GW CI KE LS LR LY MG MW ML MR MA MZ NA NE RW SN SL SO SS SD "
        "SZ TZ TG TN UG ZM"
    ),
    "Rest of Asia Pacific": (
        "AF AU BD KH CN HK JP LA MN NP NZ PG PH SG LK TW TJ TH TM UZ VN"
    ),
    "Rest of Central & Eastern Europe": (
        "AL AM AZ BY BG HR CZ GE GR HU LV LT MD MK PL RO RS SK SI UA"
    ),
    "Rest of Latin America": (
        "BO CR DO EC SV GT HT HN JM NI PA PY PR UY VE AI AG AW BS BB BZ BM VG KY DM GD GY KN LC VC SR TT TC"
    ),
    "Rest of Middle East": "BH IQ JO KW LB OM QA YE",
    "Rest of Western Europe": "AT BE DK FI IE NO PT SE CH AD LI LU MC SM IS MT",
}
# ISO region → Meta's region bucket; a region in none of them is "Other".
REGION_BUCKET = {code: bucket for bucket, codes in _REGIONS.items() for code in codes.split()}


# ISO region by the first five characters of a phone: ``+`` and four digits hold any calling code
# (or +1 and a North American area code), so a campaign's sends look one up with one dict read.
_BY_PREFIX: dict[str, str] = {}
PREFIX = 5


def region_of(phone: str | None) -> str:
    """The ISO region of an E.164 phone (``UNKNOWN_REGION`` when there is none)."""
    if not phone:
        return UNKNOWN_REGION
    key = phone[:PREFIX]
    region = _BY_PREFIX.get(key)
    if region is None:
        region = _region(phone)
        if len(_BY_PREFIX) < 100_000:
            _BY_PREFIX[key] = region
    return region


def _region(phone: str) -> str:
    try:
        number = phonenumbers.parse(phone if phone.startswith("+") else f"+{phone}", None)
    except phonenumbers.NumberParseException:
        return UNKNOWN_REGION
    region = phonenumbers.region_code_for_number(number)
    if region is None:  # a number of no known range: its calling code's main country
        region = phonenumbers.region_code_for_country_code(number.country_code or 0)
    return region or UNKNOWN_REGION


def candidates(region: str) -> tuple[str, ...]:
    """The markets a region may be priced at, most specific first."""
    found = [m for m in (NAMED.get(region), REGION_BUCKET.get(region)) if m]
    return (*found, OTHER)


def market_of(phone: str | None, markets: Container[str]) -> str:
    """The market ``phone`` is priced at on a card with rows ``markets``."""
    return market_of_region(region_of(phone), markets)


def market_of_region(region: str, markets: Container[str]) -> str:
    for market in candidates(region):
        if market in markets:
            return market
    return OTHER
