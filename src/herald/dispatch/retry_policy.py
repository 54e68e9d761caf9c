"""What the sender does with a send that failed: a pure function of the error and the attempt.

``decide(error, attempts)`` reads only its arguments (no clock, no state), so every row of the
policy is a line of ``tests/dispatch/test_retry_policy.py``. The sender turns the decision into an
outcome (``dispatch/outcomes.py``) and, for ``SlowDown`` and ``PauseCampaign``, acts on the number's
pace or the campaign. The error classes are ``whatsapp/errors.py``'s (see docs/architecture.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import aiohttp

from herald.campaigns import marketing_retry
from herald.models.campaign import DEFAULT_MARKETING_RETRY_DAYS
from herald.whatsapp import RefusedByPolicy, RetryClass, WhatsAppError

# A transient error (no answer, a 5xx, a rate limit) is retried until the message's attempts reach this.
MAX_TRANSIENT_ATTEMPTS = 6
PAIR_RATE_LIMIT_MIN_SECONDS = 6  # 131056: wait 4^attempt seconds, at least this
RETRY_NOW_BASE_SECONDS = 0.5  # network trouble or a 5xx: 0.5 × 2^attempt seconds
BACK_OFF_MAX_SECONDS = 300  # a rate limit: 2^attempt seconds, at most this
THROTTLE_RETRY_SECONDS = 1  # 130429: the number's next second


@dataclass(frozen=True, slots=True)
class RetryAfter:
    """Back to ``pending``, due in ``seconds``; a refunded attempt does not count towards the limit.
    ``wait_reason``: why it waits, shown in the report and the stats (long waits only)."""

    seconds: float
    refund_attempt: bool = False
    wait_reason: str | None = None


@dataclass(frozen=True, slots=True)
class SlowDown:
    """130429: the number sends too fast. Lower its pace; the message retries in a second, refunded."""

    seconds: float = THROTTLE_RETRY_SECONDS


@dataclass(frozen=True, slots=True)
class GiveUp:
    """``not_sent``, with the reason the reports show."""

    reason: str
    code: int | None


@dataclass(frozen=True, slots=True)
class PauseCampaign:
    """Every message of the campaign would fail alike: pause it with this reason; the message goes back
    to ``pending`` at once, its attempt refunded."""

    reason: str


@dataclass(frozen=True, slots=True)
class MaybeSent:
    """No answer after the request left: WhatsApp may have accepted it. Never resent blindly: the
    message becomes ``unknown`` and a status webhook (matched on ``biz_opaque_callback_data``) resolves it."""


Decision = RetryAfter | SlowDown | GiveUp | PauseCampaign | MaybeSent


def decide(
    error: WhatsAppError, attempts: int, *, marketing_retry_days: float = DEFAULT_MARKETING_RETRY_DAYS
) -> Decision:
    """The decision for ``error`` on a message's ``attempts``-th send (1 for the first);
    ``marketing_retry_days``: the campaign's deadline for 131049 (``campaigns/marketing_retry.py``)."""
    if error.code is None and error.http_status is None and not surely_unsent(error):
        return MaybeSent()
    if error.is_throughput_limit:
        return SlowDown()
    if error.is_pair_rate_limit:
        return RetryAfter(max(PAIR_RATE_LIMIT_MIN_SECONDS, 4 ** min(attempts, 5)))
    rc = error.retry_class
    if rc is RetryClass.RETRY_AFTER_24H:  # 131049: growing intervals until the campaign's deadline
        wait = marketing_retry.next_try_in(attempts, marketing_retry_days)
        if wait is None:
            return GiveUp(error.human_reason, error.code)
        return RetryAfter(wait.total_seconds(), wait_reason=marketing_retry.WAIT_REASON)
    if rc is RetryClass.RETRY_NOW or rc is RetryClass.BACK_OFF:
        if attempts >= MAX_TRANSIENT_ATTEMPTS:
            return GiveUp(error.human_reason, error.code)
        if rc is RetryClass.RETRY_NOW:
            return RetryAfter(RETRY_NOW_BASE_SECONDS * 2**attempts)
        return RetryAfter(min(BACK_OFF_MAX_SECONDS, 2**attempts))
    if rc is RetryClass.PAUSE_CAMPAIGN or rc is RetryClass.TEMPLATE_UNUSABLE:
        return PauseCampaign(error.human_reason)
    return GiveUp(error.human_reason, error.code)


def surely_unsent(error: WhatsAppError) -> bool:
    """A connection that never opened (or that the outbound URL policy refused) cannot have delivered it."""
    return isinstance(error, RefusedByPolicy) or isinstance(error.__cause__, aiohttp.ClientConnectorError)
