"""Meta's rate limits: per-number throughput, per-pair rate, unique recipients per moving 24 h (counted
per number for the stats, and per business portfolio for Meta's messaging limit)."""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

PAIR_BURST = 45
PAIR_REFILL_SECONDS = 6.0
DAY_SECONDS = 86_400.0
SHARDS = 256
# Meta's messaging-limit tiers (``whatsapp_business_manager_messaging_limit``): unique users a business
# portfolio may message outside a customer-service window per moving 24 hours; None: unlimited.
TIER_LIMITS: dict[str, int | None] = {
    "TIER_50": 50, "TIER_250": 250, "TIER_1K": 1_000, "TIER_2K": 2_000, "TIER_10K": 10_000,
    "TIER_100K": 100_000, "TIER_UNLIMITED": None,
}

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class Shards(Generic[K, V]):
    """A map keyed by recipient, split into ``SHARDS`` dicts by the key's hash.

    These maps gain an entry for every new recipient, and a dict that outgrows its table rehashes
    all its entries at once (about 3 ms at 87,381 entries). Maps growing in step rehashed on the same
    request and stalled the loop that stamps arrivals (``arrival``), so the requests that came
    meanwhile were stamped together and the sliding second jumped (docs/design.md, "Dispatch").
    Split, the shards cross their sizes at different moments and each rehashes 1/256 of the entries.
    """

    __slots__ = ("_shards",)

    def __init__(self) -> None:
        self._shards: list[dict[K, V]] = [{} for _ in range(SHARDS)]

    def _shard(self, key: K) -> dict[K, V]:
        return self._shards[hash(key) % SHARDS]

    def get(self, key: K) -> V | None:
        return self._shard(key).get(key)

    def __getitem__(self, key: K) -> V:
        return self._shard(key)[key]

    def __setitem__(self, key: K, value: V) -> None:
        self._shard(key)[key] = value

    def __delitem__(self, key: K) -> None:
        del self._shard(key)[key]

    def __contains__(self, key: K) -> bool:
        return key in self._shard(key)

    def __len__(self) -> int:
        return sum(len(shard) for shard in self._shards)


@dataclass
class ThroughputWindow:
    """Sliding 1-second window of accepted sends for one number.

    The deque length right after an append is the count of the window ending at that send, so its
    maximum over time is the highest count in any 1-second window.
    """

    sends: deque[float] = field(default_factory=deque)
    max_per_second: int = 0

    def _trim(self, now: float) -> None:
        horizon = now - 1.0
        sends = self.sends
        while sends and sends[0] <= horizon:
            sends.popleft()

    def allows(self, now: float, limit_mps: float | None) -> bool:
        if not limit_mps:
            return True
        self._trim(now)
        return len(self.sends) < limit_mps

    def record(self, now: float) -> None:
        self._trim(now)
        if self.sends and now < self.sends[-1]:
            now = self.sends[-1]  # arrivals handled out of order: keep the window sorted
        self.sends.append(now)
        if len(self.sends) > self.max_per_second:
            self.max_per_second = len(self.sends)


@dataclass
class PairBucket:
    """Token bucket per (number, recipient): burst of 45, then one message per 6 s."""

    tokens: float = PAIR_BURST
    updated: float = 0.0

    def take(self, now: float) -> bool:
        if self.updated:
            elapsed = max(0.0, now - self.updated)
            self.tokens = min(PAIR_BURST, self.tokens + elapsed / PAIR_REFILL_SECONDS)
        self.updated = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


@dataclass
class NumberLimits:
    throughput: ThroughputWindow = field(default_factory=ThroughputWindow)
    pairs: Shards[str, PairBucket] = field(default_factory=Shards)
    # wa_id -> last business-initiated send; counted for the messaging-limit tier.
    last_reached: Shards[str, float] = field(default_factory=Shards)
    # Every reach in time order, and how many recipients were reached within the last 24 h: kept as
    # sends come, so /_sim/stats (polled several times a second by benchmarks) does not walk every
    # recipient while sends queue behind it.
    _reaches: deque[tuple[float, str]] = field(default_factory=deque)
    _recent: int = 0

    def pair_allows(self, wa_id: str, now: float) -> bool:
        bucket = self.pairs.get(wa_id)
        if bucket is None:
            bucket = self.pairs[wa_id] = PairBucket()
        return bucket.take(now)

    def reach(self, wa_id: str, now: float) -> None:
        self._expire(now)
        previous = self.last_reached.get(wa_id)
        if previous is None or previous <= now - DAY_SECONDS:
            self._recent += 1
        self.last_reached[wa_id] = now
        self._reaches.append((now, wa_id))

    def reached_within_24h(self, wa_id: str, now: float) -> bool:
        previous = self.last_reached.get(wa_id)
        return previous is not None and previous > now - DAY_SECONDS

    def unique_recipients_24h(self, now: float) -> int:
        self._expire(now)
        return self._recent

    def _expire(self, now: float) -> None:
        horizon, reaches = now - DAY_SECONDS, self._reaches
        while reaches and reaches[0][0] <= horizon:
            at, wa_id = reaches.popleft()
            if self.last_reached.get(wa_id) == at:  # not reached again since: out of the window now
                del self.last_reached[wa_id]
                self._recent -= 1


def portfolio_limit(tiers: list[str]) -> int | None:
    """A portfolio's limit: the highest tier of its numbers, as Meta set it when limits moved to portfolios."""
    limits = [TIER_LIMITS.get(tier.upper(), 250) for tier in tiers]
    if not limits or any(limit is None for limit in limits):
        return None
    return max(limit for limit in limits if limit is not None)
