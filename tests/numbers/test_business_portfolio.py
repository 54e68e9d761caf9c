"""Which numbers share a messaging limit: the business portfolio a user gives a number, else its WABA.
Meta sets the limit per business portfolio and reports it on each number as a tier; Herald reads the
tier from the number's info (here the simulator's) and takes the portfolio's highest."""

from __future__ import annotations

import httpx
from sqlalchemy import update

from herald.kit.db import Database
from herald.models import WhatsAppNumber
from herald.numbers.messaging_limit import portfolio_of_number
from herald.simulator import SimulatorServer
from tests.conftest import OrgHandle
from tests.numbers.helpers import OTHER_PHONE_NUMBER_ID, register_number

NUMBERS = "/api/v1/whatsapp-numbers"


async def set_tier(database: Database, number_id: int, tier: str | None) -> None:
    async with database.session() as session:
        await session.execute(update(WhatsAppNumber).where(WhatsAppNumber.id == number_id).values(
            messaging_limit_tier=tier))


async def limit_key(database: Database, org: OrgHandle, number_id: int) -> tuple[str, int | None]:
    async with database.read_session() as session:
        portfolio = await portfolio_of_number(session, org_id=org.id, number_id=number_id)
    assert portfolio is not None
    return portfolio.key, portfolio.limit


class TestBusinessPortfolio:
    async def test_the_tier_comes_from_the_numbers_info_and_the_portfolio_id_is_kept(
        self, client: httpx.AsyncClient, org: OrgHandle, sim: SimulatorServer
    ) -> None:
        number = await register_number(client, org, sim.base_url, business_portfolio_id="880011")
        assert (number["messaging_limit_tier"], number["business_portfolio_id"]) == ("TIER_10K", "880011")
        changed = await client.patch(f"{NUMBERS}/{number['id']}", json={"business_portfolio_id": "990022"},
                                     headers=org.auth)
        assert changed.status_code == 200 and changed.json()["business_portfolio_id"] == "990022"
        refused = await client.patch(f"{NUMBERS}/{number['id']}", json={"business_portfolio_id": "../x"},
                                     headers=org.auth)
        assert refused.status_code == 422 and "business_portfolio_id" in refused.text

    async def test_numbers_share_the_highest_tier_of_their_portfolio_or_else_of_their_waba(
        self, client: httpx.AsyncClient, database: Database, org: OrgHandle, sim: SimulatorServer
    ) -> None:
        first = (await register_number(client, org, sim.base_url))["id"]
        second = (await register_number(client, org, sim.base_url, phone_number_id=OTHER_PHONE_NUMBER_ID))["id"]
        await set_tier(database, first, "TIER_250")
        await set_tier(database, second, None)  # not known yet: the WABA's other number sets the limit
        assert await limit_key(database, org, second) == (f"{org.id}:waba:2090001", 250)
        await set_tier(database, second, "TIER_2K")
        assert await limit_key(database, org, first) == (f"{org.id}:waba:2090001", 2_000)

        # Given a business portfolio, the first counts with that portfolio's numbers, not its WABA's.
        await client.patch(f"{NUMBERS}/{first}", json={"business_portfolio_id": "770033"}, headers=org.auth)
        assert await limit_key(database, org, first) == (f"{org.id}:770033", 250)
        assert await limit_key(database, org, second) == (f"{org.id}:waba:2090001", 2_000)
        await set_tier(database, first, "TIER_UNLIMITED")
        assert await limit_key(database, org, first) == (f"{org.id}:770033", None)
