from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.events.receiver import EventReceiver


@pytest.fixture
async def receiver() -> AsyncIterator[EventReceiver]:
    endpoint = EventReceiver()
    await endpoint.start()
    yield endpoint
    await endpoint.stop()
