"""A batch whose outcomes cannot be recorded is retried with back-off, then given up: loudly."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from herald.dispatch.batch import Batch
from herald.dispatch.context import CampaignContext, burst_for
from herald.dispatch.database_loop import DatabaseWork
from herald.dispatch.outcomes import Unknown
from herald.dispatch.pacer import Pacer
from herald.dispatch.recorder import RECORD_ATTEMPTS
from herald.dispatch.sender import Sender
from herald.whatsapp.client import CloudAPIClient
from tests.conftest import LOOPBACK_ALLOWED


class DatabaseDown(DatabaseWork):
    """The database work of a worker whose database is unreachable: every call fails, as a refused
    connection does."""

    def __init__(self) -> None:
        self.calls = 0

    async def __call__(self, fn: Callable[..., Awaitable[Any]], *args: Any) -> Any:
        self.calls += 1
        raise ConnectionRefusedError("connection refused")


async def test_recording_a_batch_is_given_up_after_its_attempts_with_an_error_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    down = DatabaseDown()
    sender = Sender(database=None, client=CloudAPIClient(outbound=LOOPBACK_ALLOWED), box=None,  # type: ignore[arg-type]
                    number_id=1, database_work=down)
    sender.stop = asyncio.Event()
    sender.stop.set()  # stopping: the attempts left go at once, without the back-off
    ctx = CampaignContext(id=7, org_id=1, rate=20, template_name="t", language="en", variables={}, header=None,
                          pacer=Pacer(20, burst=burst_for(20)))
    batch = Batch(ctx, 2)
    batch.outcomes.extend([Unknown(1), Unknown(2)])

    with caplog.at_level(logging.INFO, logger="herald.dispatch"):
        await sender._record_batch(batch)

    assert down.calls == RECORD_ATTEMPTS
    gave_up = [r for r in caplog.records if r.levelno == logging.ERROR and "gave up" in r.getMessage()]
    assert len(gave_up) == 1
    assert "campaign 7" in gave_up[0].getMessage() and "2 outcomes" in gave_up[0].getMessage()


async def test_a_batch_recorded_at_a_later_attempt_logs_no_giving_up(caplog: pytest.LogCaptureFixture) -> None:
    class DownOnce(DatabaseWork):
        def __init__(self) -> None:
            self.calls = 0

        async def __call__(self, fn: Callable[..., Awaitable[Any]], *args: Any) -> Any:
            self.calls += 1
            if self.calls == 1:
                raise ConnectionRefusedError("connection refused")
            return None

    work = DownOnce()
    sender = Sender(database=None, client=CloudAPIClient(outbound=LOOPBACK_ALLOWED), box=None,  # type: ignore[arg-type]
                    number_id=1, database_work=work)
    sender.stop = asyncio.Event()
    sender.stop.set()
    ctx = CampaignContext(id=7, org_id=1, rate=20, template_name="t", language="en", variables={}, header=None,
                          pacer=Pacer(20, burst=burst_for(20)))
    with caplog.at_level(logging.INFO, logger="herald.dispatch"):
        await sender._record_batch(Batch(ctx, 0))
    assert work.calls == 2
    assert not [r for r in caplog.records if "gave up" in r.getMessage()]
