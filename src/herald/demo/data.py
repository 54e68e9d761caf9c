"""The demo's made-up world: contacts, the simulated WhatsApp account and its templates.

Everything is derived from the contact's index, so the seeded contacts, the simulator's
unreachable list and the README's explanation of the numbers always agree, run after run.
"""

from __future__ import annotations

import csv
import io
import random
import struct
import zlib
from dataclasses import dataclass, field
from typing import Any

from herald.contacts.local_zone import TIMEZONE_TAG, zone_of

PHONE_NUMBER_ID = "1090001"
WABA_ID = "2090001"
DISPLAY_PHONE_NUMBER = "+1 555 000 0001"
# Fixed on purpose: the demo is local and throwaway; none of these is ever printed.
ACCESS_TOKEN = "herald-demo-access-token"
APP_SECRET = "herald-demo-app-secret"
VERIFY_TOKEN = "herald-demo-verify-token"
BOT_SECRET = "herald-demo-bot-secret"
# The number is on WhatsApp's high-throughput tier (1,000 msg/s) and the campaign is paced at 80/s:
# the bot's answers go through the same number, and at the standard 80 msg/s they would compete with
# the campaign for it (WhatsApp answers 130429 and Herald slows the campaign down).
THROUGHPUT_MPS = 1000
CAMPAIGN_RATE = 80

AUDIENCE_TAG = "demo"
MEMBER_ID = "member_id"
# The experiment (docs/campaign-features.md): a tenth of the audience held out, the rest split evenly
# between the welcome template (A) and the video teaser (B).
HOLDOUT_PERCENT = 10.0
# Simulated organic purchases: the demo's "shop" reports a conversion for about this share of every
# targeted contact, messaged or held out, as a customer's shop reports purchases it would have had anyway.
ORGANIC_CONVERSION_PROBABILITY = 0.03
CONVERSION_STEP = "converted"
OFFER_BUTTON = "Show me the offer"
LATER_BUTTON = "Not now"

_FIRST = ("Ana", "Ben", "Carla", "David", "Elif", "Farid", "Greta", "Hugo", "Ines", "Jonas", "Kemal", "Lena",
          "Marta", "Nils", "Olga", "Pedro", "Quinn", "Rosa", "Sami", "Tara", "Umar", "Vera", "Wim", "Yara", "Zoe")
_LAST = ("Silva", "Novak", "Berg", "Costa", "Demir", "Evans", "Fischer", "Garcia", "Haddad", "Ito", "Jensen",
         "Kowalski", "Larsen", "Moreau", "Nagy", "Okafor", "Perez", "Rossi", "Sato", "Weber")
_CITIES = ("lisbon", "berlin", "madrid", "paris")
# Contacts in these cities carry a ``timezone`` valued tag; the others are placed by their +1 415
# number (America/Los_Angeles): the send window is read in three zones.
_CITY_ZONES = {"lisbon": "Europe/Lisbon", "berlin": "Europe/Berlin"}


def zones(count: int) -> dict[str, int]:
    """How many of the first ``count`` contacts are in each timezone, placed as the engine places them."""
    placed: dict[str, int] = {}
    for person in contacts(count):
        zone, _ = zone_of(person.valued_tags.get(TIMEZONE_TAG), person.phone)
        placed[zone] = placed.get(zone, 0) + 1
    return placed


@dataclass(frozen=True)
class DemoContact:
    index: int
    phone: str
    name: str
    tags: list[str]
    valued_tags: dict[str, str] = field(default_factory=dict)
    open_case: bool = False
    unreachable: bool = False


# The exceptions, by index. The residues never collide, so each contact has at most one.
def lacks_member_id(index: int) -> bool:
    return index % 20 == 7  # 5 %: "valued tag 'member_id' missing"


def has_open_case(index: int) -> bool:
    return index % 100 == 3  # 1 %: "contact has an open case in Inbox"


def is_unreachable(index: int) -> bool:
    return index % 50 == 11  # 2 %: accepted, then failed 131026 "not a valid WhatsApp user"


def phone(index: int) -> str:
    """Valid US numbers, 10,000 per exchange starting at +1 415 200 0000."""
    return f"+1415{200 + index // 10_000:03d}{index % 10_000:04d}"


def contact(index: int) -> DemoContact:
    name = f"{_FIRST[index % len(_FIRST)]} {_LAST[(index // len(_FIRST)) % len(_LAST)]}"
    tags = [AUDIENCE_TAG, _CITIES[index % len(_CITIES)]] + (["vip"] if index % 10 == 0 else [])
    valued = {"tier": "gold" if index % 10 == 0 else "silver"}
    city = _CITIES[index % len(_CITIES)]
    if city in _CITY_ZONES:
        valued[TIMEZONE_TAG] = _CITY_ZONES[city]
    if not lacks_member_id(index):
        valued[MEMBER_ID] = f"M-{100000 + index}"
    return DemoContact(index=index, phone=phone(index), name=name, tags=tags, valued_tags=valued,
                       open_case=has_open_case(index), unreachable=is_unreachable(index))


def contacts(count: int) -> list[DemoContact]:
    return [contact(i) for i in range(count)]


def contacts_csv(people: list[DemoContact]) -> bytes:
    """The import format: ``phone,name,tags`` (tags ``;``-separated) plus one ``vt:KEY`` column per valued tag."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["phone", "name", "tags", "vt:tier", f"vt:{MEMBER_ID}", f"vt:{TIMEZONE_TAG}"])
    for person in people:
        writer.writerow([person.phone, person.name, ";".join(person.tags), person.valued_tags.get("tier", ""),
                         person.valued_tags.get(MEMBER_ID, ""), person.valued_tags.get(TIMEZONE_TAG, "")])
    return out.getvalue().encode()


def _template(name: str, components: list[dict[str, Any]], parameter_format: str = "POSITIONAL",
              language: str = "en_US") -> dict[str, Any]:
    return {"id": f"demo-{name}-{language}", "name": name, "language": language, "status": "APPROVED",
            "category": "MARKETING", "parameter_format": parameter_format, "components": components}


def templates() -> list[dict[str, Any]]:
    """Graph-shaped: usable ones (variables; an image header, the offer also in Brazilian Portuguese; a video
    header) and a NAMED one Herald lists as unusable."""
    return [
        _template("welcome", [
            {"type": "BODY", "text": "Hi {{1}}, your member id is {{2}}. Our winter offer is waiting for you!"},
            {"type": "BUTTONS", "buttons": [{"type": "QUICK_REPLY", "text": OFFER_BUTTON},
                                            {"type": "QUICK_REPLY", "text": LATER_BUTTON}]},
        ]),
        _template("winter_sale", [
            {"type": "HEADER", "format": "IMAGE"},
            {"type": "BODY", "text": "Winter sale, {{1}}: 30% off everything this week."},
        ]),
        _template("winter_sale", [
            {"type": "HEADER", "format": "IMAGE"},
            {"type": "BODY", "text": "Liquidação de inverno, {{1}}: 30% de desconto em tudo esta semana."},
        ], language="pt_BR"),
        _template("winter_teaser", [
            {"type": "HEADER", "format": "VIDEO"},
            {"type": "BODY", "text": "{{1}}, the winter collection in two seconds. Member {{2}}, it is yours first."},
            {"type": "BUTTONS", "buttons": [{"type": "QUICK_REPLY", "text": OFFER_BUTTON},
                                            {"type": "QUICK_REPLY", "text": LATER_BUTTON}]},
        ]),
        _template("named_promo", [
            {"type": "BODY", "text": "Hello {{first_name}}, here is your code {{code}}."},
        ], parameter_format="NAMED"),
    ]


def scenario(count: int) -> dict[str, Any]:
    """The simulator's world: one number, the templates, who is unreachable, how users behave."""
    return {
        "phone_numbers": [{"phone_number_id": PHONE_NUMBER_ID, "waba_id": WABA_ID,
                           "display_phone_number": DISPLAY_PHONE_NUMBER, "access_token": ACCESS_TOKEN,
                           "throughput_mps": THROUGHPUT_MPS, "verified_name": "Herald Demo"}],
        "templates": templates(),
        "unreachable": [phone(i) for i in range(count) if is_unreachable(i)],
        "read_probability": 0.7,
        "reply_probability": 0.25,
        "seed": 2024,
        # Short, human-looking lags so the funnel visibly trails the sends without slowing the demo.
        "status_delays_ms": {"sent": 30, "delivered": 250, "read": 700, "reply": 1200},
    }


def banner_png(width: int = 64, height: int = 32) -> bytes:
    """A small valid PNG (a blue gradient) for the image-header template, made without an imaging library."""
    rows = b"".join(b"\x00" + bytes(v for x in range(width) for v in (20, 60 + x * 2, 200)) for _ in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def bot_rng(seed: int = 7) -> random.Random:
    return random.Random(seed)


def converts_organically(index: int, seed: int = 11) -> bool:
    """Whether the demo's shop reports a purchase for this contact whatever the campaign does (simulated,
    fixed by the index): the baseline the holdout measures."""
    return random.Random(seed * 1_000_003 + index).random() < ORGANIC_CONVERSION_PROBABILITY
