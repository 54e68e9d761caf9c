"""Campaign status changes committed by other processes, heard at once (PostgreSQL's LISTEN/NOTIFY).

A worker's senders re-read their campaigns twice a second, so a pause committed elsewhere (the API of
``herald serve`` beside a separate ``herald worker``, a pause for a template Meta paused, applied by
another worker's webhook applier) used to reach them up to 0.75 s later: 750 more sends at the top
tier. (The pause a sender makes at its budget is not announced: ``lifecycle.transition``.) On PostgreSQL every status change also
notifies ``STATUS_CHANNEL`` in its own transaction (``campaigns/lifecycle.transition``), which delivers it
when the transaction commits and never if it rolls back. Each worker listens on a connection of its own
and hands every change to its senders as it arrives (``Worker.campaigns_changed``): a paused or ended
campaign sends nothing more, the others are re-read at the senders' next turn.

A lost connection is opened again after ``RETRY_SECONDS``; what changed meanwhile reaches the senders at
their next refresh, as without this. SQLite has no such channel: a worker on SQLite in another process
than the API reads changes at its refresh.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping

import psycopg
from sqlalchemy.engine import make_url

from herald.campaigns.lifecycle import STATUS_CHANNEL, Status
from herald.kit.db import PG_CONNECT_TIMEOUT_SECONDS
from herald.kit.stopping import sleep_or_stop, wait_or_stop

log = logging.getLogger("herald.dispatch")

RETRY_SECONDS = 2.0  # after a lost or refused connection

Changed = Callable[[Mapping[int, str]], None]


def parse(payload: str) -> tuple[int, str] | None:
    """``"<campaign id> <status>"`` as sent by ``transition``; None for anything else."""
    campaign_id, _, status = payload.partition(" ")
    if not campaign_id.isdigit() or status not in Status.__members__:
        return None
    return int(campaign_id), status


def conninfo_of(url: str) -> str | None:
    """The libpq connection string of a PostgreSQL database URL (``postgresql+psycopg://…``); None for
    any other database."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "postgresql":
        return None
    return parsed.set(drivername="postgresql").render_as_string(hide_password=False)


async def listen(url: str, changed: Changed, stop: asyncio.Event) -> None:
    """Until ``stop``: every status change committed on the database at ``url`` handed to ``changed``
    as it arrives. Returns at once on SQLite."""
    conninfo = conninfo_of(url)
    if conninfo is None:
        return
    while not stop.is_set():
        try:
            await _listen_once(conninfo, changed, stop)
        except (psycopg.Error, OSError) as exc:  # the database restarting, a network cut
            log.warning("listening for campaign status changes failed (%s); again in %.0f s", exc, RETRY_SECONDS)
            await sleep_or_stop(stop, RETRY_SECONDS)
        except Exception:  # a bug here must not stop the worker: its senders still refresh
            log.exception("listening for campaign status changes failed; again in %.0f s", RETRY_SECONDS)
            await sleep_or_stop(stop, RETRY_SECONDS)


async def _listen_once(conninfo: str, changed: Changed, stop: asyncio.Event) -> None:
    connection = await psycopg.AsyncConnection.connect(
        conninfo, autocommit=True, connect_timeout=PG_CONNECT_TIMEOUT_SECONDS,
    )
    async with connection:
        await connection.execute(f"LISTEN {STATUS_CHANNEL}")
        hearing = asyncio.ensure_future(_hear(connection, changed))
        try:
            await wait_or_stop(stop, hearing)  # returns when ``stop`` is set, or the connection is lost
        finally:
            hearing.cancel()
            done = await asyncio.gather(hearing, return_exceptions=True)
        if isinstance(done[0], BaseException) and not isinstance(done[0], asyncio.CancelledError):
            raise done[0]


async def _hear(connection: psycopg.AsyncConnection[object], changed: Changed) -> None:
    async for notice in connection.notifies():
        change = parse(notice.payload)
        if change is None:
            log.warning("ignored a campaign status notification %r", notice.payload[:80])
            continue
        changed(dict([change]))
