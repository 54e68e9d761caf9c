"""131049, Meta's per-user marketing limit: when a refused message is tried again, a pure function.

Meta does not deliver a marketing template to a user who got "enough" marketing messages lately
(from any business) and answers 131049, synchronously or as a ``failed`` status. It advises not to
resend at once. Herald retries at growing intervals, 24 h after the first try, then 48 h, 96 h, …
(24 h × 2^(n−1) after the n-th try), as long as the next try falls within the campaign's deadline
(``campaigns.marketing_retry_days``, default 7 days) after the message's first try. With 7 days a
message is tried at 0 h, 24 h, 72 h and 168 h, then stays ``failed`` with Meta's reason.

The time since the first try is not stored: it is the sum of the intervals so far, from the
message's ``attempts``. A message that also met other errors (a 503 retried in seconds) has more
attempts than 131049 tries, so its schedule ends sooner, never later than the deadline.
"""

from __future__ import annotations

from datetime import timedelta

FIRST_INTERVAL = timedelta(hours=24)
MAX_DAYS = 30.0  # the longest deadline a campaign may set
WAIT_REASON = "retrying after Meta's per-user marketing limit (131049)"
SECONDS_PER_DAY = 86_400.0
_MAX_DOUBLINGS = 16  # far past any deadline: keeps the arithmetic small


def deadline_days(campaign_days: float, ttl_seconds: int | None) -> float:
    """The campaign's deadline, cut to the time to live of a message sent through Meta's Marketing
    Messages API (``ttl_seconds``; None: Meta's default, or ``/messages``): a marketing message is never
    tried again once it is no longer worth delivering."""
    return campaign_days if ttl_seconds is None else min(campaign_days, ttl_seconds / SECONDS_PER_DAY)


def next_try_in(attempts: int, deadline_days: float) -> timedelta | None:
    """After the ``attempts``-th try (1 for the first) was refused with 131049: how long until the next,
    or None when it would fall past the deadline (the refusal is then final)."""
    tries = min(max(1, attempts), _MAX_DOUBLINGS)
    since_first_try = FIRST_INTERVAL * (2**tries - 1)  # when the next try would be, after the first
    if since_first_try > timedelta(days=deadline_days):
        return None
    return FIRST_INTERVAL * 2 ** (tries - 1)
