"""Recording what happened to a batch of sends: one statement per kind of outcome, counters alongside.

Only the sender that holds a message's lease writes a held row, ``claimed`` or ``sending`` (the
webhook applier waits for it to leave them), so every row of a batch moves, and counters follow
from the batch. A message given back (``Retry``, ``Released``) to a campaign that ended meanwhile
is ``not_sent: campaign ended`` instead of pending: nothing would ever claim it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable, Sized
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

from sqlalchemy import Integer, String, Table, bindparam, delete, func, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from herald.campaigns import counters
from herald.kit.dialect import is_postgres
from herald.kit.types import UTCDateTime, utcnow
from herald.models import Campaign, CampaignMessage, Engagement, MessageStatus
from herald.ops.metrics import SEND_OUTCOMES
from herald.quality.breaker import BLOCK_CODES

_messages: Table = CampaignMessage.__table__  # type: ignore[assignment]


@dataclass(slots=True)
class Sent:
    message_id: int
    wamid: str
    at: datetime


@dataclass(slots=True)
class Retry:
    """Back to ``pending`` until ``at``; ``reason``/``code``: the error it met (kept as its last error),
    ``wait_reason``: why it waits, for the report and the stats."""

    message_id: int
    at: datetime
    refund_attempt: bool = False
    reason: str | None = None
    code: int | None = None
    wait_reason: str | None = None


@dataclass(slots=True)
class NotSent:
    message_id: int
    contact_id: int
    reason: str
    code: int | None
    at: datetime


@dataclass(slots=True)
class Unknown:
    message_id: int


@dataclass(slots=True)
class Released:
    """Claimed but not sent (campaign paused meanwhile, or the sender stopping): back to pending, as
    if never claimed."""

    message_id: int


@dataclass(slots=True)
class Lost:
    """Not ours any more: its lease ran out while this worker stalled and another worker took it
    (``takeoff.py``). Not sent, and nothing recorded."""

    message_id: int


Outcome = Sent | Retry | NotSent | Unknown | Released | Lost

def _held_row():  # type: ignore[no-untyped-def]
    """A row of the batch, still held by its sender (``claimed`` or ``sending``). Two comparisons,
    not IN: an executemany takes no expanding parameter."""
    held = (_messages.c.status == MessageStatus.claimed) | (_messages.c.status == MessageStatus.sending)
    return (_messages.c.id == bindparam("_id")) & held


async def _executemany(session: AsyncSession, stmt, params: list[dict]) -> int:  # type: ignore[no-untyped-def]
    if not params:
        return 0
    result = await session.execute(stmt.execution_options(synchronize_session=False), params)
    return int(result.rowcount)  # type: ignore[attr-defined]


class CampaignOutcomes(NamedTuple):
    """Outcomes of one campaign's messages to record, and the forecast price of those that left or
    may have (added to the campaign's ``committed_cost``, its budget's count)."""

    campaign_id: int
    outcomes: list[Outcome]
    cost: float = 0.0


class MovedUnderLease(RuntimeError):
    """Fewer rows moved than outcomes recorded, in a statement for several campaigns: which campaign's
    rows changed cannot be told, so the caller records each campaign on its own (``recorder.py``)."""


async def record_many(
    session: AsyncSession, batches: list[CampaignOutcomes],
    then: Callable[[], Awaitable[None]] | None = None,
) -> None:
    """The outcomes of one or several campaigns: the messages, one statement per kind of outcome for
    all of them, then the campaigns' rows (last send time, ``committed_cost``), their counters and the
    counters' details, each level for all campaigns in ascending id: the lock order of
    herald.campaigns.counters.

    Each count comes from the rows a statement moved. For one campaign that is exact; for several,
    a statement that moved fewer rows than it had outcomes (a row changed under its lease) raises
    ``MovedUnderLease`` rather than guess whose they were. ``then``: what the caller changes between
    the messages and the campaigns' rows (pausing a campaign: a change of its row)."""
    outcomes = [o for b in batches for o in b.outcomes]
    sent = [o for o in outcomes if isinstance(o, Sent)]
    retry = [o for o in outcomes if isinstance(o, Retry)]
    not_sent = [o for o in outcomes if isinstance(o, NotSent)]
    unknown = [o for o in outcomes if isinstance(o, Unknown)]
    released = [o for o in outcomes if isinstance(o, Released)]
    alone = len({b.campaign_id for b in batches}) == 1

    def moved(rows: int, items: Sized) -> int:
        if rows != len(items) and not alone:
            raise MovedUnderLease(f"{len(items) - rows} of {len(items)} messages changed under their lease")
        return rows

    n_sent = moved(await _record_sent(session, sent), sent)
    await _executemany(
        session,
        update(_messages).where(_held_row()).values(
            status=MessageStatus.pending, lease_until=None, next_attempt_at=bindparam("_at", type_=UTCDateTime()),
            attempts=_messages.c.attempts - bindparam("_refund"), wait_reason=bindparam("_wait"),
            error_msg=func.coalesce(bindparam("_reason", type_=String()), _messages.c.error_msg),
            error_code=func.coalesce(bindparam("_code", type_=Integer()), _messages.c.error_code),
        ),
        [{"_id": o.message_id, "_at": o.at, "_refund": 1 if o.refund_attempt else 0, "_wait": o.wait_reason,
          "_reason": o.reason, "_code": o.code} for o in retry],
    )
    await _executemany(
        session,
        update(_messages).where(_held_row()).values(
            status=MessageStatus.pending, lease_until=None, attempts=_messages.c.attempts - 1
        ),
        [{"_id": o.message_id} for o in released],
    )
    await _mark_not_sent(session, items=not_sent)
    now = utcnow()
    n_unknown = moved(await _executemany(
        session,
        update(_messages).where(_held_row()).values(
            status=MessageStatus.unknown, lease_until=None, unknown_since=bindparam("_at", type_=UTCDateTime())
        ),
        [{"_id": o.message_id, "_at": now} for o in unknown],
    ), unknown)
    if then is not None:
        await then()
    await _count(session, batches, n_sent=n_sent if alone else None, n_unknown=n_unknown if alone else None)
    for outcome, n in (("sent", n_sent), ("unknown", n_unknown), ("retry", len(retry)), ("released", len(released))):
        if n:
            SEND_OUTCOMES.labels(outcome=outcome).inc(n)


async def _count(
    session: AsyncSession, batches: list[CampaignOutcomes], *, n_sent: int | None, n_unknown: int | None
) -> None:
    """The campaigns' rows, then their counters, then the counters' details and the contacts released,
    each one statement for all of them in ascending campaign id where it can be. ``n_sent``/``n_unknown``:
    the rows the statements moved, when there is one campaign (else all its outcomes moved)."""
    batches = sorted(batches, key=lambda b: b.campaign_id)
    rows, deltas, sends, not_sent_of = [], {}, {}, {}
    for campaign_id, outcomes, cost in batches:
        sent = [o for o in outcomes if isinstance(o, Sent)]
        not_sent = [o for o in outcomes if isinstance(o, NotSent)]
        n_s = len(sent) if n_sent is None else n_sent
        n_u = sum(1 for o in outcomes if isinstance(o, Unknown)) if n_unknown is None else n_unknown
        if sent or cost:
            rows.append({"_campaign": campaign_id, "_cost": cost, "_last": max((o.at for o in sent), default=None)})
        refused = sum(1 for o in not_sent if o.code is not None)  # WhatsApp's refusals, not Herald's skips
        deltas[campaign_id] = {
            "pending": -(n_s + n_u + len(not_sent)), "sent": n_s, "unknown": n_u, "not_sent": len(not_sent),
            # The quality breaker's counts (quality/breaker.py): what WhatsApp answered for good, in the same UPDATE.
            "quality_sends": n_s + n_u + refused, "quality_failures": refused,
            "quality_blocks": sum(1 for o in outcomes if isinstance(o, (NotSent, Retry)) and o.code in BLOCK_CODES),
        }
        if sent:
            sends[campaign_id] = [o.at for o in sent]
        if not_sent:
            not_sent_of[campaign_id] = not_sent
    if rows:
        await session.execute(_CAMPAIGN_SENT, rows)
    await counters.add_many(session, deltas)
    for campaign_id, items in not_sent_of.items():
        SEND_OUTCOMES.labels(outcome="not_sent").inc(len(items))
        await counters.add_not_sent_reasons(session, campaign_id=campaign_id, reasons=Counter(o.reason for o in items))
    await counters.add_sends_many(session, sends)
    for campaign_id, items in not_sent_of.items():
        await _release(session, campaign_id=campaign_id, items=items)


# A campaign's last send time and the forecast price of its messages that left or may have (its
# budget's count), for several campaigns in one executemany.
_campaigns: Table = Campaign.__table__  # type: ignore[assignment]
_CAMPAIGN_SENT = (
    update(_campaigns).where(_campaigns.c.id == bindparam("_campaign"))
    .values(committed_cost=_campaigns.c.committed_cost + bindparam("_cost"),
            last_sent_at=func.coalesce(bindparam("_last", type_=UTCDateTime()), _campaigns.c.last_sent_at))
    .execution_options(synchronize_session=False)
)


# One statement for the whole batch: PostgreSQL runs an executemany as one UPDATE per row. The
# statuses are literals in its text (from the enum), as a plain UPDATE would have them.
_SENT_POSTGRES = text(
    f"UPDATE campaign_messages AS m SET status = '{MessageStatus.sent}', wamid = v.wamid, sent_at = v.sent_at,"
    " lease_until = NULL, next_attempt_at = NULL"
    " FROM unnest(CAST(:ids AS bigint[]), CAST(:wamids AS text[]), CAST(:ats AS timestamptz[]))"
    " AS v(id, wamid, sent_at)"
    f" WHERE m.id = v.id AND m.status IN ('{MessageStatus.claimed}', '{MessageStatus.sending}')"
)


async def _record_sent(session: AsyncSession, sent: list[Sent]) -> int:
    """Marks the batch's accepted sends ``sent``; returns how many rows moved."""
    if not sent:
        return 0
    if is_postgres(session):
        result = await session.execute(_SENT_POSTGRES, {
            "ids": [o.message_id for o in sent], "wamids": [o.wamid for o in sent], "ats": [o.at for o in sent],
        })
        return int(result.rowcount)  # type: ignore[attr-defined]
    return await _executemany(
        session,
        update(_messages).where(_held_row()).values(
            status=MessageStatus.sent, wamid=bindparam("_wamid"), sent_at=bindparam("_at", type_=UTCDateTime()),
            lease_until=None, next_attempt_at=None,
        ),
        [{"_id": o.message_id, "_wamid": o.wamid, "_at": o.at} for o in sent],
    )


async def record_not_sent(
    session: AsyncSession, *, campaign_id: int, items: list[NotSent]
) -> None:
    """Skipped or failed messages: reason stored per message, counted, engagement released at once."""
    moved = await _mark_not_sent(session, items=items)
    await counters.add(session, campaign_id=campaign_id, pending=-moved, not_sent=moved)
    await _not_sent_details(session, campaign_id=campaign_id, items=items)


async def _mark_not_sent(session: AsyncSession, *, items: list[NotSent]) -> int:
    if not items:
        return 0
    stmt = (
        update(_messages)
        .where(_held_row())
        .values(
            status=MessageStatus.not_sent, error_msg=bindparam("_reason"), error_code=bindparam("_code"),
            failed_at=bindparam("_at", type_=UTCDateTime()), lease_until=None, next_attempt_at=None,
        )
    )
    moved = await _executemany(
        session, stmt, [{"_id": o.message_id, "_reason": o.reason, "_code": o.code, "_at": o.at} for o in items]
    )
    if moved != len(items):
        raise RuntimeError(f"{len(items) - moved} messages changed under their lease")
    return moved


async def _not_sent_details(session: AsyncSession, *, campaign_id: int, items: list[NotSent]) -> None:
    """The reasons of not-sent messages (counted), and their contacts released for other campaigns."""
    if not items:
        return
    SEND_OUTCOMES.labels(outcome="not_sent").inc(len(items))
    await counters.add_not_sent_reasons(session, campaign_id=campaign_id, reasons=Counter(o.reason for o in items))
    await _release(session, campaign_id=campaign_id, items=items)


async def _release(session: AsyncSession, *, campaign_id: int, items: list[NotSent]) -> None:
    """Contacts not sent to are free for other campaigns at once."""
    await session.execute(
        delete(Engagement)
        .where(Engagement.campaign_id == campaign_id, Engagement.contact_id.in_([o.contact_id for o in items]))
        .execution_options(synchronize_session=False)
    )
