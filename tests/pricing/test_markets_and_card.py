"""The rate card Herald ships, a recipient's market, and the card format admins upload (no database)."""

from __future__ import annotations

import pytest

from herald.kit.errors import Invalid
from herald.pricing.card import default_card, parse_card, to_csv
from herald.pricing.forecast import forecast
from herald.pricing.markets import market_of, region_of

CARD = default_card()


class TestShippedCard:
    def test_states_its_effective_date_currency_and_source(self) -> None:
        assert (CARD.effective, CARD.currency) == ("2025-07-01", "USD")
        assert CARD.source is not None and "Pricing on the WhatsApp Business Platform" in CARD.source
        assert CARD.rates["Argentina"] == {"marketing": 0.0618, "utility": 0.0289, "authentication": 0.0289}
        assert CARD.rates["Other"]["marketing"] == 0.0604

    def test_writes_back_to_the_text_it_reads(self) -> None:
        assert parse_card(to_csv(CARD)) == CARD


class TestMarkets:
    @pytest.mark.parametrize(("phone", "region", "market"), [
        ("+5491123456789", "AR", "Argentina"),  # a market of its own
        ("+213551234567", "DZ", "Rest of Africa"),
        ("+61412345678", "AU", "Rest of Asia Pacific"),
        ("+355691234567", "AL", "Rest of Central & Eastern Europe"),
        ("+18765551234", "JM", "Rest of Latin America"),  # +1, told apart by its area code
        ("+436641234567", "AT", "Rest of Western Europe"),
        ("+97455123456", "QA", "Other"),  # Rest of Middle East: no row on the shipped card
        ("+4915112345678", "DE", "Other"),  # Germany: a market of Meta's, no row on the shipped card
        ("+14155552671", "US", "Other"),
        (None, "ZZ", "Other"),
        ("not a phone", "ZZ", "Other"),
    ])
    def test_a_phone_is_priced_at_its_country_then_its_region_then_other(
        self, phone: str | None, region: str, market: str
    ) -> None:
        assert region_of(phone) == region
        assert market_of(phone, CARD.rates) == market

    def test_a_message_sent_through_the_marketing_messages_api_is_priced_as_marketing(self) -> None:
        # Meta's statuses price it ``marketing_lite``, at the marketing rate (docs/whatsapp.md, "Marketing Messages API").
        card = parse_card("market,marketing,utility,authentication\nOther,0.06,0.008,0.008\n")
        assert card.price_of_phone("+14155552671", "marketing_lite") == card.price_of_phone("+14155552671", "marketing")
        assert card.price_of_phone("+14155552671", "marketing_lite") == 0.06

    def test_a_card_with_the_countrys_own_row_prices_it_there(self) -> None:
        card = parse_card("market,marketing,utility,authentication\nNorth America,0.025,0.004,0.004\n"
                          "Germany,0.1365,0.055,0.0768\nOther,0.06,0.008,0.008\n")
        assert market_of("+14155552671", card.rates) == "North America"
        assert market_of("+16475550123", card.rates) == "North America"  # Canada
        assert market_of("+4915112345678", card.rates) == "Germany"
        assert card.price_of_phone("+4915112345678", "authentication") == 0.0768


class TestUploadedCardFormat:
    def test_every_bad_line_is_named(self) -> None:
        text = ("# currency: eur\n"
                "market,marketing,utility,authentication\n"
                "Argentina,0.06,0.02,0.02\n"
                "Brazil,abc,0.01,0.01\n"
                "\n"
                "Chile,0.1,0.02\n"
                "Argentina,0.07,0.02,0.02\n"
                "Peru,-1,0,0\n"
                "Other,0.05,0.01,0.01\n")
        with pytest.raises(Invalid) as refused:
            parse_card(text)
        assert refused.value.details == [
            {"field": "line 4", "message": "line 4: 'abc' is not a price"},
            {"field": "line 6", "message": "line 6: 4 values expected, found 3"},
            {"field": "line 7", "message": "line 7: market 'Argentina' is listed twice"},
            {"field": "line 8", "message": "line 8: a price is between 0 and 100"},
        ]

    def test_the_header_and_an_other_row_are_required(self) -> None:
        with pytest.raises(Invalid) as no_header:
            parse_card("country,price\nArgentina,1\n")
        assert no_header.value.details[0]["field"] == "line 1"
        with pytest.raises(Invalid) as no_other:
            parse_card("market,marketing,utility,authentication\nArgentina,0.06,0.02,0.02\n")
        assert "'Other' row" in no_other.value.message
        with pytest.raises(Invalid):
            parse_card("")

    def test_a_bad_currency_is_named(self) -> None:
        with pytest.raises(Invalid) as refused:
            parse_card("# currency: dollars\nmarket,marketing,utility,authentication\nOther,0.05,0.01,0.01\n")
        assert refused.value.details[0]["field"] == "currency"

    def test_metadata_lines_are_read(self) -> None:
        card = parse_card("# effective: 2026-10-01\n# currency: brl\n# source: Meta's BRL card\n"
                          "market,marketing,utility,authentication\nOther,0.3,0.05,0.05\n")
        assert (card.effective, card.currency, card.source) == ("2026-10-01", "BRL", "Meta's BRL card")


class TestForecast:
    def test_count_times_rate_by_country_costliest_first(self) -> None:
        groups = [("+5491123456789", 3), ("+213551234567", 2), ("+14155552671", 1), (None, 1)]
        found = forecast(CARD, "marketing", groups, budget=0.3)
        assert [(c.country, c.market, c.contacts, c.price) for c in found.countries] == [
            ("AR", "Argentina", 3, 0.0618), ("US", "Other", 1, 0.0604), ("ZZ", "Other", 1, 0.0604),
            ("DZ", "Rest of Africa", 2, 0.0225),
        ]
        assert found.total == pytest.approx(3 * 0.0618 + 2 * 0.0225 + 2 * 0.0604)
        assert (found.contacts, found.currency, found.over_budget) == (7, "USD", True)
        assert forecast(CARD, "utility", groups).total == pytest.approx(3 * 0.0289 + 2 * 0.0040 + 2 * 0.0077)

    def test_a_holdout_is_not_priced_its_expected_share_kept_out_per_country(self) -> None:
        groups = [("+5491123456789", 30), ("+213551234567", 10)]
        found = forecast(CARD, "marketing", groups, holdout_percent=10)
        assert [(c.country, c.contacts) for c in found.countries] == [("AR", 27), ("DZ", 9)]
        assert (found.contacts, found.held_out) == (36, 4)
        assert found.total == pytest.approx(27 * 0.0618 + 9 * 0.0225)
        assert forecast(CARD, "marketing", groups).held_out == 0
