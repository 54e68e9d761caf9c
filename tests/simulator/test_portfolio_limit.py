"""The simulated Meta enforces the messaging limit per business portfolio: unique users messaged
outside a customer-service window in a moving 24 hours, shared by the portfolio's numbers (Meta's
"Messaging limits" page); past it a template send is refused with 131048."""

from __future__ import annotations

import aiohttp

from herald.simulator import SimulatorServer
from tests.simulator.conftest import TOKEN, SimFactory, post_json, template_body
from tests.simulator.test_sim_account_events import control
from tests.simulator.test_sim_api import assert_graph_error, messages_url


def numbers(*specs: tuple[str, str, str | None, str]) -> list[dict[str, object]]:
    return [{"phone_number_id": pid, "waba_id": waba, "business_portfolio_id": portfolio,
             "messaging_limit_tier": tier, "access_token": TOKEN, "throughput_mps": 0}
            for pid, waba, portfolio, tier in specs]


async def send(http: aiohttp.ClientSession, sim: SimulatorServer, to: int, number: str = "1090001") -> tuple[int, dict]:
    return await post_json(http, messages_url(sim, number), template_body(f"+55119{to:08d}"))


class TestPortfolioLimit:
    async def test_fifty_users_then_131048_and_a_user_already_reached_is_free(
        self, start_sim: SimFactory, http: aiohttp.ClientSession
    ) -> None:
        sim = start_sim(phone_numbers=numbers(("1090001", "2090001", None, "TIER_50")))
        for user in range(50):
            status, body = await send(http, sim, user)
            assert status == 200, body
        status, body = await send(http, sim, 50)
        assert_graph_error(status, body, 131048, 400)
        again, _ = await send(http, sim, 7)  # already reached in the window: no new place needed
        assert again == 200
        assert sim.stats()["rejected"] == {"131048": 1}

    async def test_the_numbers_of_one_portfolio_share_it_and_others_do_not(
        self, start_sim: SimFactory, http: aiohttp.ClientSession
    ) -> None:
        sim = start_sim(phone_numbers=numbers(
            ("1090001", "2090001", "bp-1", "TIER_50"), ("1090002", "2090002", "bp-1", "TIER_50"),
            ("1090003", "2090003", None, "TIER_50"),
        ))
        for user in range(30):
            assert (await send(http, sim, user, "1090001"))[0] == 200
        for user in range(30, 50):
            assert (await send(http, sim, user, "1090002"))[0] == 200
        status, body = await send(http, sim, 50, "1090002")  # the other WABA of the same portfolio
        assert_graph_error(status, body, 131048, 400)
        assert (await send(http, sim, 50, "1090003"))[0] == 200  # a portfolio of its own
        stats = sim.stats()["numbers"]
        assert stats["1090001"]["portfolio_unique_recipients_24h"] == 50
        assert stats["1090003"]["portfolio_unique_recipients_24h"] == 1

    async def test_an_upgrade_raises_the_portfolios_limit_at_once(
        self, start_sim: SimFactory, http: aiohttp.ClientSession
    ) -> None:
        sim = start_sim(phone_numbers=numbers(("1090001", "2090001", "bp-1", "TIER_50"),
                                              ("1090002", "2090002", "bp-1", "TIER_50")))
        for user in range(50):
            assert (await send(http, sim, user))[0] == 200
        status, body = await send(http, sim, 50, "1090002")
        assert_graph_error(status, body, 131048, 400)
        await control(http, sim, "number-quality", {"phone_number_id": "1090001", "event": "UPGRADE", "tier": "TIER_250"})
        assert (await send(http, sim, 50, "1090002"))[0] == 200  # the portfolio's highest tier now
        await control(http, sim, "number-quality", {"phone_number_id": "1090001", "event": "DOWNGRADE", "tier": "TIER_50"})
        assert_graph_error(*await send(http, sim, 51, "1090002"), 131048, 400)

    async def test_a_place_frees_24_hours_after_a_users_last_message(
        self, start_sim: SimFactory, http: aiohttp.ClientSession
    ) -> None:
        sim = start_sim(phone_numbers=numbers(("1090001", "2090001", None, "TIER_50")))
        for user in range(50):
            assert (await send(http, sim, user))[0] == 200
        sim.advance_clock(24 * 3600 + 1)
        assert (await send(http, sim, 50))[0] == 200

    async def test_the_portfolios_limit_is_its_highest_tier_and_unlimited_is_unlimited(
        self, start_sim: SimFactory, http: aiohttp.ClientSession
    ) -> None:
        sim = start_sim(phone_numbers=numbers(
            ("1090001", "2090001", "bp-1", "TIER_50"), ("1090002", "2090001", "bp-1", "TIER_UNLIMITED"),
        ))
        for user in range(60):
            assert (await send(http, sim, user))[0] == 200

    async def test_a_user_inside_the_service_window_does_not_count(
        self, start_sim: SimFactory, http: aiohttp.ClientSession
    ) -> None:
        sim = start_sim(phone_numbers=numbers(("1090001", "2090001", None, "TIER_50")))
        await post_json(http, f"{sim.base_url}/_sim/inbound",
                        {"phone_number_id": "1090001", "from": "+5511900000099", "text": "hello"})
        for user in range(50):
            assert (await send(http, sim, user))[0] == 200
        assert (await send(http, sim, 99))[0] == 200  # wrote to us within 24 h: not business-initiated
