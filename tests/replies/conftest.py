"""A live Herald, the simulator posting webhooks to it, and a real bot endpoint."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from herald.config import Settings
from herald.simulator import SimulatorServer
from tests.live import live_server
from tests.replies.helpers import BotEndpoint, scenario


@pytest.fixture
def herald_url(settings: Settings) -> Iterator[str]:
    with live_server(settings) as url:
        yield url


@pytest.fixture
def sim(herald_url: str) -> Iterator[SimulatorServer]:
    with SimulatorServer(scenario(), webhook_url=f"{herald_url}/webhooks/whatsapp", app_secret="sim-secret") as server:
        yield server


@pytest.fixture
async def bot() -> AsyncIterator[BotEndpoint]:
    endpoint = BotEndpoint()
    await endpoint.start()
    yield endpoint
    await endpoint.stop()
