"""How delivery statuses move a campaign message, and what that does to the counters.

Statuses only move forward (sent < delivered < read; ``failed`` ends it). The new state of a
message is a fold over all its events, so duplicated and reordered webhooks end in the same state
as an ordered stream. Counter buckets follow docs/architecture.md, "Stats": every targeted contact is in exactly one
of pending / sent / unknown / not_sent / holdout; received ⊆ sent, read ⊆ received, replied ⊆ received.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from herald.models.campaign_message import ACCEPTED, NOT_YET_SENT, RECEIVED, MessageStatus

_PENDING, _SENT, _DELIVERED, _READ = MessageStatus.pending, MessageStatus.sent, MessageStatus.delivered, MessageStatus.read
_FAILED, _NOT_SENT, _UNKNOWN = MessageStatus.failed, MessageStatus.not_sent, MessageStatus.unknown
# Never sent, and never will be: no status or reply moves them (a held-out contact may write in on
# their own; that answers nothing we sent).
_FINAL_UNSENT = frozenset({_NOT_SENT, MessageStatus.holdout})
RANK: dict[str, int] = {_PENDING: 0, MessageStatus.claimed: 0, MessageStatus.sending: 0, _UNKNOWN: 0, _SENT: 1, _DELIVERED: 2, _READ: 3}
# Meta's ``played`` (a voice message listened to) counts as read.
PLAYED = "played"
# A campaign message that went back to pending for a retry (131049) has no wamid any more.


def bucket(status: str) -> str:
    """The counter (``campaigns/counters.py``) a message in ``status`` is counted in."""
    if status in NOT_YET_SENT:
        return "pending"
    if status in ACCEPTED:
        return "sent"
    if status == _UNKNOWN:
        return "unknown"
    if status == MessageStatus.holdout:
        return "holdout"
    return "not_sent"


@dataclass(frozen=True, slots=True)
class MessageState:
    status: str
    sent_at: datetime | None
    delivered_at: datetime | None
    read_at: datetime | None
    failed_at: datetime | None
    replied_at: datetime | None
    error_msg: str | None
    error_code: int | None

    @property
    def received(self) -> bool:
        return self.status in RECEIVED

    @property
    def is_read(self) -> bool:
        return self.status == _READ

    @property
    def replied(self) -> bool:
        return self.replied_at is not None and self.received

    def counted(self) -> dict[str, int]:
        flags = {"pending": 0, "sent": 0, "unknown": 0, "not_sent": 0, "holdout": 0}
        flags[bucket(self.status)] = 1
        flags["received"] = int(self.received)
        flags["read"] = int(self.is_read)
        flags["replied"] = int(self.replied)
        return flags


def _earliest(a: datetime | None, b: datetime | None) -> datetime | None:
    if a is None:
        return b
    if b is None:
        return a
    return min(a, b)


def apply_status(state: MessageState, status: str, at: datetime, *, reason: str | None = None,
                 code: int | None = None) -> MessageState:
    """One status event applied to a message that WhatsApp accepted (or may have)."""
    if state.status in _FINAL_UNSENT:
        return state
    if status == _FAILED:
        if state.status == _FAILED:
            # The earliest failure gives the reason, whichever arrived first (ties: the smaller code).
            if state.failed_at is not None and (at, code or 0, reason or "") < (
                state.failed_at, state.error_code or 0, state.error_msg or ""
            ):
                return replace(state, failed_at=at, error_msg=reason, error_code=code)
            return replace(state, failed_at=_earliest(state.failed_at, at))
        return replace(state, status=_FAILED, failed_at=at, error_msg=reason, error_code=code)
    if status == PLAYED:
        status = _READ
    if status not in RANK:
        return state
    # A failed message stays failed, but the times of late statuses are still recorded, so the
    # end state does not depend on the order the events arrived in.
    new_status: str
    if state.status == _FAILED:
        new_status = _FAILED
    else:
        new_status = status if RANK[status] > RANK.get(state.status, 0) else state.status
    sent_at = _earliest(state.sent_at, at)
    delivered_at = _earliest(state.delivered_at, at) if status == _DELIVERED else state.delivered_at
    read_at = _earliest(state.read_at, at) if status == _READ else state.read_at
    return replace(state, status=new_status, sent_at=sent_at, delivered_at=delivered_at, read_at=read_at)


def apply_reply(state: MessageState, at: datetime) -> MessageState:
    """A reply proves the message arrived by the reply's time: a `sent` message becomes delivered.

    The times move to the earliest proof whatever the order (a `delivered` status arriving later, or
    one that arrived before, at a later time), and a failed message keeps them too, as late statuses do.
    """
    if state.status in _FINAL_UNSENT or state.replied_at is not None and state.replied_at <= at:
        return state
    new = replace(state, replied_at=at, delivered_at=_earliest(state.delivered_at, at),
                  sent_at=_earliest(state.sent_at, at))
    if state.status != _FAILED and RANK.get(state.status, 0) < RANK[_DELIVERED]:
        new = replace(new, status=_DELIVERED)
    return new


def counter_deltas(before: MessageState, after: MessageState) -> dict[str, int]:
    b, a = before.counted(), after.counted()
    return {k: a[k] - b[k] for k in a if a[k] != b[k]}
