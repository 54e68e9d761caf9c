"""The simulator's count of unique recipients in a moving 24 h, kept as sends come, and the sharded
per-recipient maps it is kept in."""

from __future__ import annotations

import random

from herald.simulator.limits import DAY_SECONDS, SHARDS, NumberLimits, Shards


def recount(reaches: list[tuple[float, str]], now: float) -> int:
    """The definition: recipients whose latest reach up to ``now`` is less than 24 h old."""
    latest: dict[str, float] = {}
    for at, wa_id in reaches:
        if at <= now:
            latest[wa_id] = at
    return sum(1 for at in latest.values() if at > now - DAY_SECONDS)


def test_a_recipient_counts_once_until_24_hours_after_its_latest_reach() -> None:
    limits = NumberLimits()
    limits.reach("a", 0.0)
    limits.reach("a", 10.0)
    limits.reach("b", 10.0)
    limits.reach("b", 10.0)  # the same instant twice
    assert limits.unique_recipients_24h(20.0) == 2
    assert limits.unique_recipients_24h(DAY_SECONDS + 5.0) == 2  # a's latest reach was at 10 s
    assert limits.unique_recipients_24h(DAY_SECONDS + 10.0) == 0
    limits.reach("a", DAY_SECONDS + 11.0)
    assert limits.unique_recipients_24h(DAY_SECONDS + 12.0) == 1


def test_the_running_count_equals_a_recount_over_random_sends() -> None:
    rng = random.Random(7)
    limits, reaches, now = NumberLimits(), [], 0.0
    for _ in range(5_000):
        now += rng.choice([0.0, 1.0, 600.0, 3_600.0, 20_000.0])
        wa_id = f"u{rng.randrange(300)}"
        limits.reach(wa_id, now)
        reaches.append((now, wa_id))
        if rng.random() < 0.1:
            assert limits.unique_recipients_24h(now) == recount(reaches, now)
    later = now + DAY_SECONDS / 2
    assert limits.unique_recipients_24h(later) == recount(reaches, later)


def test_shards_answer_like_one_dict_over_random_operations() -> None:
    rng = random.Random(11)
    shards: Shards[str, int] = Shards()
    plain: dict[str, int] = {}
    for step in range(20_000):
        key = f"+{9911_000_000 + rng.randrange(3_000)}"
        if rng.random() < 0.2 and key in plain:
            del shards[key], plain[key]
        else:
            shards[key] = plain[key] = step
        probe = f"+{9911_000_000 + rng.randrange(3_000)}"
        assert shards.get(probe) == plain.get(probe)
        assert (probe in shards) == (probe in plain)
    assert len(shards) == len(plain)
    assert all(shards[key] == value for key, value in plain.items())


def test_a_hundred_thousand_recipients_spread_over_the_shards() -> None:
    """What keeps a rehash short: no shard holds much more than its share of the recipients."""
    shards: Shards[str, float] = Shards()
    for i in range(100_000):
        shards[str(9911_000_000_000 + i)] = float(i)
    largest = max(len(shard) for shard in shards._shards)
    assert len(shards) == 100_000
    assert largest < 2 * 100_000 / SHARDS
