"""A rate card: per market, the price of one delivered template message of each category.

One text format for Herald's own card (``rate_card_<date>.csv`` in this package) and for the card
an admin uploads: optional ``# key: value`` lines (``effective``, ``currency``, ``source``), then a
CSV with the header ``market,marketing,utility,authentication`` and one row per market. Every
error names its line.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field, replace
from functools import lru_cache
from importlib import resources
from typing import Any

from herald.kit.errors import Invalid
from herald.pricing.markets import OTHER, market_of

CATEGORIES = ("marketing", "utility", "authentication")
HEADER = ("market", *CATEGORIES)
# Meta's pricing category of a message sent through the Marketing Messages API; Meta prices it as a
# marketing message (docs/whatsapp.md, "Marketing Messages API").
PRICED_AS = {"marketing_lite": "marketing"}
DEFAULT_CARD_FILE = "rate_card_2025-07-01.csv"
DEFAULT_CURRENCY = "USD"
MAX_CARD_BYTES = 256 * 1024
MAX_MARKETS = 500
MAX_PRICE = 100.0
CURRENCY = re.compile(r"[A-Z]{3}")
META_KEYS = ("effective", "currency", "source")


@dataclass(frozen=True)
class RateCard:
    effective: str | None
    currency: str
    source: str | None
    rates: dict[str, dict[str, float]] = field(default_factory=dict)

    def price(self, market: str, category: str) -> float:
        """The price of one message of ``category`` (marketing, utility, authentication) to ``market``;
        0 for a category the card does not price (service: free)."""
        row = self.rates.get(market) or self.rates.get(OTHER) or {}
        return row.get(PRICED_AS.get(category, category), 0.0)

    def price_of_phone(self, phone: str | None, category: str) -> float:
        return self.price(market_of(phone, self.rates), category)

    def with_overrides(self, overrides: dict[str, dict[str, float]], currency: str | None) -> RateCard:
        rates = {market: dict(row) for market, row in self.rates.items()}
        for market, row in overrides.items():
            rates.setdefault(market, {}).update(row)
        return replace(self, rates=rates, currency=currency or self.currency)

    def as_json(self) -> dict[str, Any]:
        return {"effective": self.effective, "currency": self.currency, "source": self.source, "rates": self.rates}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RateCard:
        return cls(effective=data.get("effective"), currency=data.get("currency") or DEFAULT_CURRENCY,
                   source=data.get("source"), rates={m: dict(r) for m, r in (data.get("rates") or {}).items()})


@lru_cache(maxsize=1)
def default_card() -> RateCard:
    """Herald's own card, shipped in this package."""
    text = resources.files("herald.pricing").joinpath(DEFAULT_CARD_FILE).read_text(encoding="utf-8")
    return parse_card(text)


def parse_price(raw: str, *, where: str) -> float:
    try:
        value = float(raw.strip())
    except ValueError:
        raise Invalid(f"{where}: '{raw}' is not a price", field=where) from None
    if not 0 <= value <= MAX_PRICE:  # also refuses nan and inf
        raise Invalid(f"{where}: a price is between 0 and {MAX_PRICE:g}", field=where)
    return value


def check_currency(raw: str, *, field_name: str = "currency") -> str:
    code = raw.strip().upper()
    if not CURRENCY.fullmatch(code):
        raise Invalid("a currency is a three-letter ISO 4217 code, e.g. USD", field=field_name)
    return code


def parse_card(text: str) -> RateCard:
    """A card from its text; a 422 listing every bad line (``line N``) otherwise."""
    meta: dict[str, str] = {}
    errors: list[dict[str, str]] = []
    rows: list[tuple[int, list[str]]] = []
    body_lines: list[tuple[int, str]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped:
            continue
        if stripped.startswith("#"):
            key, _, value = stripped.lstrip("#").partition(":")
            if key.strip().lower() in META_KEYS and value.strip():
                meta[key.strip().lower()] = value.strip()
            continue
        body_lines.append((number, line))
    if not body_lines:
        raise Invalid("the rate card is empty: it needs the header market,marketing,utility,authentication",
                      field="line 1")
    parsed = list(csv.reader(io.StringIO("\n".join(line for _, line in body_lines))))
    for (number, _), cells in zip(body_lines, parsed, strict=False):
        rows.append((number, [c.strip() for c in cells]))
    header_line, header = rows[0]
    if tuple(c.lower() for c in header) != HEADER:
        raise Invalid(f"line {header_line}: the header must be {','.join(HEADER)}", field=f"line {header_line}")
    rates: dict[str, dict[str, float]] = {}
    for number, cells in rows[1:]:
        where = f"line {number}"
        if len(cells) != len(HEADER):
            errors.append({"field": where, "message": f"{where}: {len(HEADER)} values expected, found {len(cells)}"})
            continue
        market = cells[0]
        if not market or len(market) > 100:
            errors.append({"field": where, "message": f"{where}: a market name is 1 to 100 characters"})
            continue
        if market in rates:
            errors.append({"field": where, "message": f"{where}: market '{market}' is listed twice"})
            continue
        try:
            rates[market] = {c: parse_price(v, where=where) for c, v in zip(CATEGORIES, cells[1:], strict=True)}
        except Invalid as bad:
            errors.append({"field": where, "message": bad.message})
    if len(rates) > MAX_MARKETS:
        errors.append({"field": "line 1", "message": f"a card has at most {MAX_MARKETS} markets"})
    if not errors and OTHER not in rates:
        errors.append({"field": f"line {header_line}",
                       "message": f"the card needs an '{OTHER}' row: it prices every market without one"})
    currency = DEFAULT_CURRENCY
    if "currency" in meta:
        try:
            currency = check_currency(meta["currency"])
        except Invalid as bad:
            errors.insert(0, {"field": "currency", "message": bad.message})
    if errors:
        raise Invalid(f"the rate card has {len(errors)} error{'s' if len(errors) > 1 else ''}: {errors[0]['message']}",
                      details=errors)
    return RateCard(effective=meta.get("effective"), currency=currency, source=meta.get("source"), rates=rates)


def to_csv(card: RateCard) -> str:
    """The card in the text format ``parse_card`` reads (what the UI offers to download)."""
    out = io.StringIO()
    for key in META_KEYS:
        value = getattr(card, key)
        if value:
            out.write(f"# {key}: {value}\n")
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(HEADER)
    for market in sorted(card.rates):
        writer.writerow([market, *(f"{card.rates[market].get(c, 0.0):g}" for c in CATEGORIES)])
    return out.getvalue()
