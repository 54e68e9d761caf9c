"""A contact's local timezone, for send windows (``campaigns/send_window.py``).

From the contact's ``timezone`` valued tag when it holds an IANA name (``America/Sao_Paulo``), else
from its phone number: phonenumbers' timezone data gives the zones of the number's country, or of its
area where the data knows them (a US number's area code, a Brazilian one's DDD). When the data still
gives several zones (a mobile number in Russia, Mexico, Indonesia…), the country's most populous zone
from ``MOST_POPULOUS`` is used, else the first zone listed. A contact with neither (no phone, or a
number the data does not place) is in ``UNKNOWN_ZONE`` (UTC).

Looking a number up costs tens of microseconds: ``zone_for_phone`` caches the answer per number
prefix (the country code and the first digits, which is what the data is keyed on), so a campaign's
contacts cost a dictionary lookup each after the first of their area.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

import phonenumbers
from phonenumbers import timezone as phone_timezones
from phonenumbers.tzdata import TIMEZONE_LONGEST_PREFIX

# The valued tag a contact's timezone is read from first.
TIMEZONE_TAG = "timezone"
# Where a contact whose zone nothing tells is taken to be.
UNKNOWN_ZONE = "UTC"
# The most populous zone of countries whose numbers phonenumbers maps to several zones, for numbers
# it cannot place more precisely (mobile numbers, mostly). Written for Herald from census figures
# (the metropolitan area that dominates each country); countries not listed take the first zone given.
MOST_POPULOUS = {
    "US": "America/New_York",  # Eastern time: about 47 % of the population
    "CA": "America/Toronto",  # Ontario and Quebec
    "BR": "America/Sao_Paulo",  # Brasília time: south-east, south, north-east
    "MX": "America/Mexico_City",  # central time: most states
    "AU": "Australia/Sydney",  # NSW, Victoria (same offsets most of the year)
    "RU": "Europe/Moscow",  # European Russia
    "ID": "Asia/Jakarta",  # western Indonesia: Java and Sumatra
    "KZ": "Asia/Almaty",
    "AR": "America/Argentina/Buenos_Aires",
    "CL": "America/Santiago",
    "CD": "Africa/Kinshasa",
    "ES": "Europe/Madrid",  # the peninsula, not the Canaries
    "PT": "Europe/Lisbon",  # the mainland, not the Azores
    "EC": "America/Guayaquil",  # the mainland, not the Galápagos
    "NZ": "Pacific/Auckland",
    "MN": "Asia/Ulaanbaatar",
    "UA": "Europe/Kyiv",
    "CN": "Asia/Shanghai",
    "FR": "Europe/Paris",
    "GB": "Europe/London",
    "DE": "Europe/Berlin",
    "IN": "Asia/Kolkata",
}
# The number's '+', then the digits the timezone data is keyed on: numbers alike up to there share a zone.
PREFIX_CHARS = 1 + TIMEZONE_LONGEST_PREFIX
# Prefixes kept at most (then forgotten all at once): a few MB.
_MAX_PREFIXES = 200_000
_ZONES = frozenset(available_timezones())


def valid_zone(name: str | None) -> str | None:
    """The IANA zone ``name`` when this system knows it (case as given), else None."""
    if not name:
        return None
    name = name.strip()
    if name not in _ZONES:
        return None
    return name


def zone_for_phone(phone: str | None) -> str:
    """The zone of an E.164 number (``+5511987654321``), cached per prefix; ``UNKNOWN_ZONE`` when none."""
    if not phone or not phone.startswith("+"):
        return UNKNOWN_ZONE
    prefix = phone[:PREFIX_CHARS]
    zone = _BY_PREFIX.get(prefix)
    if zone is None:
        if len(_BY_PREFIX) >= _MAX_PREFIXES:
            _BY_PREFIX.clear()
        zone = _BY_PREFIX[prefix] = _lookup(phone)
    return zone


_BY_PREFIX: dict[str, str] = {}


def _lookup(phone: str) -> str:
    try:
        number = phonenumbers.parse(phone, None)
    except phonenumbers.NumberParseException:
        return UNKNOWN_ZONE
    zones = [z for z in phone_timezones.time_zones_for_number(number) if z in _ZONES]
    if not zones:
        return UNKNOWN_ZONE
    if len(zones) == 1:
        return zones[0]
    region = phonenumbers.region_code_for_number(number)
    preferred = MOST_POPULOUS.get(region or "")
    return preferred if preferred is not None and preferred in _ZONES else zones[0]


def zone_of(tag: str | None, phone: str | None) -> tuple[str, bool]:
    """A contact's zone, and whether its ``timezone`` tag was set but not a zone (then the phone's is used)."""
    if tag:
        valid = valid_zone(tag)
        if valid is not None:
            return valid, False
        return zone_for_phone(phone), True
    return zone_for_phone(phone), False


def zone_info(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(UNKNOWN_ZONE)
