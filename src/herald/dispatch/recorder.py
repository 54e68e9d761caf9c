"""Recording the batches of every number a worker sends for together: one transaction per round.

A sender hands in a part of a batch (the outcomes so far, at most ``RECORD_EVERY_SECONDS`` apart in
``sender.py``, and the rest with the last outcome) and waits for it to be written. Recorded one by
one, a hundred numbers at 10 msg/s were two hundred transactions a second, each with its own
statements for a handful of messages: the cost grew with the numbers, not with the messages. Here
the parts handed in meanwhile are written in one transaction every ``ROUND_SECONDS`` at most, one
statement per kind of outcome for all of them (``repository.record_parts``).

Parts are written in the order they were handed in, so a batch's parts in its order and its last
(which deletes its claim) last. A round the database refuses is written again part by part, each
with its own attempts and back-off, so that one part that cannot be written does not take the
others with it; a part given up after ``RECORD_ATTEMPTS`` leaves its messages to the reaper
(``reaper.py``), as their claim's watermark says.

The writing runs in a task of its own, started when a part arrives and none is running, and ending
when none is left: nothing to start or stop with the worker, and a sender that stops still has its
last parts written (``Sender._run`` waits for them).
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import time
from dataclasses import dataclass, field

from herald.dispatch.database_loop import DatabaseWork
from herald.dispatch.repository import PartToRecord, record_parts
from herald.kit.stopping import sleep_or_stop
from herald.ops.logs import bind

log = logging.getLogger("herald.dispatch")

# At most this often a recording transaction; a part waits this long at most for its round. Parts
# are handed in every half second per batch: a round takes those of every number at once.
ROUND_SECONDS = 0.25
RECORD_ATTEMPTS = 5  # a part is retried with back-off for about 30 s, then given up


@dataclass(slots=True)
class _Handed:
    part: PartToRecord
    stop: asyncio.Event  # its sender's: once set, the part's retries go without back-off
    done: asyncio.Future[bool] = field(default_factory=lambda: asyncio.get_running_loop().create_future())


class Recorder:
    """Writes the parts handed in (``record``) in rounds; see the module's docstring."""

    def __init__(self, database_work: DatabaseWork, *, round_seconds: float = ROUND_SECONDS) -> None:
        self.database_work = database_work
        self.round_seconds = round_seconds
        self._waiting: list[_Handed] = []
        self._writer: asyncio.Task[None] | None = None
        self._last_round = float("-inf")

    async def record(self, part: PartToRecord, stop: asyncio.Event) -> bool:
        """Waits until ``part`` is written (True) or given up after its attempts (False, logged)."""
        handed = _Handed(part, stop)
        self._waiting.append(handed)
        if self._writer is None or self._writer.done():
            # A context of its own: the first sender's log fields (its number) are not the round's.
            self._writer = asyncio.create_task(self._write_rounds(), name="dispatch-recorder",
                                               context=contextvars.Context())
        # Shielded: a sender that stops waiting does not withdraw its outcomes; they are written anyway.
        return await asyncio.shield(handed.done)

    async def _write_rounds(self) -> None:
        while self._waiting:
            wait = self._last_round + self.round_seconds - time.monotonic()
            if wait > 0 and not any(h.stop.is_set() for h in self._waiting):
                await asyncio.sleep(wait)  # at most a round: plain, a stop does not cut it short
            handed, self._waiting = self._waiting, []
            self._last_round = time.monotonic()
            try:
                await self._write(handed)
            except BaseException:  # cancelled (the worker torn down): nobody is left to write these
                for h in handed + self._waiting:
                    if not h.done.done():
                        h.done.set_result(False)
                raise

    async def _write(self, handed: list[_Handed]) -> None:
        try:
            await self.database_work(record_parts, [h.part for h in handed])
        except Exception:
            if len(handed) == 1:
                log.exception("recording a batch of campaign %s failed (attempt 1)", handed[0].part.campaign_id)
            else:
                log.exception("recording %s parts of batches together failed: each goes on its own", len(handed))
            for h in handed:
                # A lone part's failed round was its first attempt; in a round of several, each starts over.
                _settle(h, await self._write_alone(h, first_attempt=2 if len(handed) == 1 else 1))
            return
        for h in handed:
            _settle(h, True)

    async def _write_alone(self, handed: _Handed, *, first_attempt: int) -> bool:
        part = handed.part
        with bind(campaign_id=part.campaign_id):
            for attempt in range(first_attempt, RECORD_ATTEMPTS + 1):
                # Back-off before each attempt; stopping, the attempts left go at once.
                await sleep_or_stop(handed.stop, 2 ** (attempt - 2))
                try:
                    await self.database_work(record_parts, [part])
                    return True
                except Exception:  # the database may be restarting: the outcomes must not be lost
                    log.exception("recording a batch of campaign %s failed (attempt %s)", part.campaign_id, attempt)
            log.error(
                "gave up recording a batch of campaign %s after %s attempts: %s outcomes left to the reaper",
                part.campaign_id, RECORD_ATTEMPTS, len(part.outcomes),
                extra={"campaign_id": part.campaign_id, "outcomes": len(part.outcomes)},
            )
            return False


def _settle(handed: _Handed, recorded: bool) -> None:
    if not handed.done.done():
        handed.done.set_result(recorded)
