"""The forecast of a campaign's cost: its eligible audience by country, each contact at the rate of
its market for the template's category. An estimate: Meta's invoice is the truth (docs/costs.md)."""

from __future__ import annotations

from collections import defaultdict

from pydantic import BaseModel, Field

from herald.pricing.card import RateCard
from herald.pricing.markets import UNKNOWN_REGION, market_of_region, region_of

TOP_COUNTRIES = 10
# Meta's template categories, in the casing of its template API.
DEFAULT_CATEGORY = "marketing"


class CountryCost(BaseModel):
    country: str = Field(description="ISO 3166 region of the phones ('ZZ': no phone, or one of no known country)")
    market: str = Field(description="the rate card's market the country is priced at")
    contacts: int
    price: float = Field(description="per message")
    cost: float


class CostForecast(BaseModel):
    currency: str
    category: str = Field(description="the template category priced (marketing when the template is not known yet)")
    contacts: int = Field(description="the eligible contacts priced: those the holdout leaves to be sent, expected")
    held_out: int = Field(default=0, description="eligible contacts the campaign's holdout is expected to keep "
                                                  "(not sent, not priced)")
    total: float
    countries: list[CountryCost] = Field(description="the costliest countries first, at most ten")
    other_countries: int = Field(description="countries left out of ``countries``")
    rate_card_effective: str | None
    budget: float | None = None
    over_budget: bool = Field(default=False, description="the forecast is above the campaign's budget")


def category_of(template_category: str | None) -> str:
    category = (template_category or DEFAULT_CATEGORY).lower()
    return category if category in ("marketing", "utility", "authentication") else DEFAULT_CATEGORY


def forecast(card: RateCard, category: str, groups: list[tuple[str | None, int]],
             budget: float | None = None, holdout_percent: float = 0.0) -> CostForecast:
    """``groups``: (a phone, how many eligible contacts share its country) pairs. A holdout is drawn at
    random from the eligible contacts, so each country keeps ``holdout_percent`` of its contacts out,
    as expected (rounded per country): they are not sent, so not priced."""
    per_country: dict[str, int] = defaultdict(int)
    for phone, count in groups:
        per_country[region_of(phone) if phone else UNKNOWN_REGION] += count
    eligible = sum(per_country.values())
    sent_share = 1.0 - min(max(holdout_percent, 0.0), 100.0) / 100.0
    per_country = {country: round(count * sent_share) for country, count in per_country.items()}
    rows = []
    for country, contacts in per_country.items():
        if not contacts:
            continue
        market = market_of_region(country, card.rates)
        price = card.price(market, category)
        rows.append(CountryCost(country=country, market=market, contacts=contacts, price=price,
                                cost=round(price * contacts, 6)))
    rows.sort(key=lambda r: (-r.cost, -r.contacts, r.country))
    total = round(sum(r.cost for r in rows), 6)
    return CostForecast(
        currency=card.currency, category=category, contacts=sum(per_country.values()),
        held_out=eligible - sum(per_country.values()), total=total,
        countries=rows[:TOP_COUNTRIES], other_countries=max(0, len(rows) - TOP_COUNTRIES),
        rate_card_effective=card.effective, budget=budget, over_budget=budget is not None and total > budget + 1e-9,
    )
