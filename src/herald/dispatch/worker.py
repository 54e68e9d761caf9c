"""``herald worker``: the jobs runner, the scheduler tick, and one sender per leased number."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from collections.abc import Mapping
from datetime import timedelta
from typing import NamedTuple

from herald.campaigns.launch import MATERIALIZE_JOB
from herald.campaigns.lifecycle import Status
from herald.dispatch import leases, scheduler, status_news
from herald.dispatch.claim import SEND_LEASE
from herald.dispatch.database_loop import DatabaseLoop, DatabaseWork
from herald.dispatch.materialize import materialize_job
from herald.dispatch.recorder import Recorder
from herald.dispatch.roster import Roster
from herald.dispatch.sender import ROSTER_MAX_AGE, Sender
from herald.dispatch.takeoff import Takeoff
from herald.events.delivery import EventDeliverer
from herald.jobs import runner as jobs
from herald.kit.crypto import SecretBox
from herald.kit.db import Database
from herald.kit.outbound import OutboundPolicy
from herald.kit.stopping import sleep_or_stop
from herald.kit.types import utcnow
from herald.replies.delivery import BotDeliveryEngine
from herald.webhooks import applier
from herald.whatsapp import CloudAPIClient

log = logging.getLogger("herald.worker")

LEASE_LOOP_SECONDS = 1.0
TICK_SECONDS = 1.0
# The background jobs a worker runs, by kind (``herald.jobs.runner``).
JOB_HANDLERS: dict[str, jobs.Handler] = {MATERIALIZE_JOB: materialize_job}


class RunningSender(NamedTuple):
    """A number's sender, its task and the event that stops it."""

    sender: Sender
    task: asyncio.Task[None]
    stop: asyncio.Event


def new_worker_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


class Worker:
    def __init__(
        self, *, database: Database, box: SecretBox, outbound: OutboundPolicy, client: CloudAPIClient | None = None,
        worker_id: str | None = None,
        webhook_wakeup: asyncio.Event | None = None, send_lease: timedelta = SEND_LEASE,
        database_thread: bool = False,
    ) -> None:
        self.send_lease = send_lease
        # The senders' claims and recording, and the webhook applier, on a loop of their own thread
        # (``database_loop``): `herald worker`.
        self.database_thread = database_thread
        self.database_work: DatabaseWork | None = None
        self.webhook_wakeup = webhook_wakeup
        self.database = database
        self.box = box
        self.outbound = outbound
        self.client = client
        self.worker_id = worker_id or new_worker_id()
        self.senders: dict[int, RunningSender] = {}  # by number
        # Marks every sender's messages ``sending`` a tick before they leave, one statement a tick.
        self.takeoff: Takeoff | None = None
        # Reads what every sender re-reads about its number and campaigns, for all of them at once.
        self.roster: Roster | None = None
        # Writes every sender's batch outcomes together, one transaction per round.
        self.recorder: Recorder | None = None
        self._announced = False

    async def run(self, stop: asyncio.Event) -> None:
        own_client = self.client is None
        client = self.client or CloudAPIClient(outbound=self.outbound)
        await client.start()
        self.client = client
        try:
            if self.database_thread:
                database_loop = DatabaseLoop(self.database.url)
                database_loop.start()
                self.database_work = database_loop
            self.takeoff = Takeoff(self.database_work or DatabaseWork(self.database))
            self.roster = Roster(self.database_work or DatabaseWork(self.database), self.box, max_age=ROSTER_MAX_AGE)
            self.recorder = Recorder(self.database_work or DatabaseWork(self.database))
            log.info("worker %s started", self.worker_id)
            await asyncio.gather(
                self.takeoff.run(stop),
                jobs.run_forever(self.database, JOB_HANDLERS, stop),
                self._apply_webhooks(stop),
                self._loop(stop, self._tick, TICK_SECONDS),
                self._loop(stop, self._balance_numbers, LEASE_LOOP_SECONDS),
                BotDeliveryEngine(database=self.database, box=self.box, outbound=self.outbound).run(stop),
                EventDeliverer(database=self.database, box=self.box, outbound=self.outbound).run(stop),
                self._stop_senders_on(stop),
                # Pauses and ends committed by other processes, at once (PostgreSQL only).
                status_news.listen(self.database.url, self.campaigns_changed, stop),
            )
        finally:
            await self._stop_all()
            await self._retire()
            if self.database_work is not None:
                await self.database_work.close()
                self.database_work = None
            if own_client:
                await client.close()
            log.info("worker %s stopped", self.worker_id)

    def campaigns_changed(self, statuses: Mapping[int, str]) -> None:
        """Campaigns' statuses changed (new status by campaign id) in a transaction of this process, now
        committed. A campaign no longer active sends nothing more from now on: every sender stops it
        before this returns (``Sender.stop_campaigns``), so a pause or an end answered to its manager
        lets through only the sends already handed to WhatsApp. And every sender re-reads its campaigns
        at its next turn (``Roster.changed``) rather than at the end of its refresh period, for a start
        or a resume.
        Called by the requests of ``herald serve`` (``kit/deps.get_session``) and, on PostgreSQL, for
        every change committed by any process (``status_news.listen``); on SQLite another process's
        changes are read within the refresh period."""
        stopped = {campaign_id for campaign_id, status in statuses.items() if status != Status.active}
        for running in self.senders.values():
            running.sender.stop_campaigns(stopped)
        if self.roster is not None:
            self.roster.changed()

    async def _apply_webhooks(self, stop: asyncio.Event) -> None:
        if self.database_work is None or self.webhook_wakeup is not None:
            await applier.run_forever(self.database, stop, self.webhook_wakeup)
        else:
            # Rounds of 500 statuses (three per send at full speed) would hold the sends as the
            # claims did: applied on the database loop too. It polls ``stop`` (a flag read across threads).
            await self.database_work.now(applier.run_forever, stop)

    async def _loop(self, stop: asyncio.Event, step, every: float) -> None:  # type: ignore[no-untyped-def]
        while not stop.is_set():
            try:
                await step()
            except Exception:  # e.g. the database restarting: retry next round
                log.exception("worker step %s failed", getattr(step, "__name__", step))
            await sleep_or_stop(stop, every)

    async def _tick(self) -> None:
        await scheduler.tick(self.database)

    async def _balance_numbers(self) -> None:
        now = utcnow()
        async with self.database.session() as session:
            alive = await leases.heartbeat(session, worker_id=self.worker_id, now=now)
            busy = await leases.busy_numbers(session)
        if not self._announced:
            # The first round only announces us: workers started together then all count each other
            # in their first share, instead of the first one taking every number and handing them
            # over a round or two later.
            self._announced = True
            return
        share = leases.fair_share(len(busy), alive)
        # Renew the numbers we hold first, then take free ones up to our share: as many at a time as
        # the share has room for, in one statement (usually one round: the others' are skipped).
        candidates = [n for n in busy if n in self.senders] + [n for n in busy if n not in self.senders]
        held: set[int] = set()
        while candidates and len(held) < share:
            trying, candidates = candidates[:share - len(held)], candidates[share - len(held):]
            async with self.database.session() as session:
                held |= await leases.try_leases(session, number_ids=trying, worker_id=self.worker_id, now=now)
        for number_id in held & set(self.senders):
            entry = self.senders.get(number_id)
            if entry is not None and entry.task.done():  # died of an error it could not survive
                await self._stop(number_id)
        for number_id in held - set(self.senders):
            self._start(number_id)
        for number_id in set(self.senders) - held:
            await self._stop(number_id)
            async with self.database.session() as session:
                await leases.release(session, number_id=number_id, worker_id=self.worker_id)

    def _start(self, number_id: int) -> None:
        assert self.client is not None
        stop = asyncio.Event()
        sender = Sender(
            database=self.database, client=self.client, box=self.box, number_id=number_id, send_lease=self.send_lease,
            database_work=self.database_work, takeoff=self.takeoff, roster=self.roster, recorder=self.recorder,
        )
        task = asyncio.create_task(sender.run(stop), name=f"dispatch-number-{number_id}")
        self.senders[number_id] = RunningSender(sender, task, stop)
        log.info("worker %s now sends for number %s", self.worker_id, number_id)

    async def _stop(self, number_id: int) -> None:
        """Stops the number's sender: what it claimed and did not send goes back to pending."""
        entry = self.senders.pop(number_id, None)
        if entry is None:  # stopped meanwhile (balancing and the worker's stop both stop numbers)
            return
        entry.stop.set()
        await asyncio.gather(entry.task, return_exceptions=True)

    async def _stop_senders_on(self, stop: asyncio.Event) -> None:
        """On stop, the senders stop at once, alongside the other loops rather than after them."""
        await stop.wait()
        await self._stop_all()

    async def _stop_all(self) -> None:
        await asyncio.gather(*(self._stop(number_id) for number_id in list(self.senders)))

    async def _retire(self) -> None:
        """Leaving: our number leases are released and our heartbeat removed, so that another worker
        takes the numbers over at its next round instead of after the leases run out."""
        try:
            async with self.database.session() as session:
                await leases.retire(session, worker_id=self.worker_id)
        except Exception:  # e.g. the database is down: the leases run out by themselves
            log.exception("worker %s could not release its number leases", self.worker_id)
