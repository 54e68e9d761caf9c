"""Holdout and A/B variant assignment: a pure function of (campaign seed, contact id).

The same integer arithmetic runs in Python (tests, docs) and as a SQL expression inside
materialisation's INSERT … SELECT, on PostgreSQL and SQLite alike, so no row goes through Python
and a given seed gives the same groups on both databases. The mix is two rounds of x² + k modulo the
Mersenne prime 2³¹ − 1: every intermediate value stays below 2⁶², inside a signed 64-bit integer
(PostgreSQL's bigint raises on overflow, SQLite would turn to floats), and, unlike a linear
congruence, neighbouring contact ids (one import) do not land in evenly spaced buckets.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from typing import Any

from sqlalchemy import BigInteger, ColumnElement, case, literal

from herald.models.campaign_message import VARIANT_NAMES

PRIME = 2_147_483_647
# Buckets of a draw: a share is counted in hundredths of a percent (10 % holdout: buckets 0–999).
BUCKETS = 10_000
# The two draws of one contact use different keys, so being held out says nothing of the variant.
HOLDOUT_KEY = 0x5EED_0001
VARIANT_KEY = 0x5EED_0002
MAX_HOLDOUT_PERCENT = 50.0
MIN_VARIANTS, MAX_VARIANTS = 2, len(VARIANT_NAMES)


def new_seed() -> int:
    return secrets.randbelow(PRIME)


def draw(seed: int, key: int, contact_id: int) -> int:
    """The contact's bucket, 0 to ``BUCKETS`` − 1, for one draw of one campaign."""
    x = (contact_id % PRIME + seed % PRIME) % PRIME
    x = (x * x + key) % PRIME
    x = (x * x + (seed ^ key) % PRIME) % PRIME
    return x % BUCKETS


def draw_sql(seed: int, key: int, contact_id: ColumnElement[Any]) -> ColumnElement[Any]:
    """``draw`` as SQL over a contact id column (the constants inlined as bigint literals)."""
    p = literal(PRIME, BigInteger)
    x = (contact_id % p + literal(seed % PRIME, BigInteger)) % p
    x = (x * x + literal(key, BigInteger)) % p
    x = (x * x + literal((seed ^ key) % PRIME, BigInteger)) % p
    return x % literal(BUCKETS, BigInteger)


def holdout_cut(percent: float) -> int:
    """Buckets below this are held out."""
    return round(percent * BUCKETS / 100)


def is_holdout(seed: int, percent: float, contact_id: int) -> bool:
    return draw(seed, HOLDOUT_KEY, contact_id) < holdout_cut(percent)


def is_main_message(variant: dict[str, Any]) -> bool:
    """A variant with neither a template nor bindings sends the campaign's own template and bindings."""
    return not variant.get("template_name") and not variant.get("variables")


def shares_of(variants: Sequence[dict[str, Any]]) -> list[float]:
    """Each variant's share in percent: as given, or an even split when none is given."""
    given = [v.get("share") for v in variants]
    if all(s is None for s in given):
        return [100.0 / len(variants)] * len(variants)
    return [float(s or 0) for s in given]


def variant_cuts(shares: Sequence[float]) -> list[int]:
    """Cumulative upper bucket of each variant but the last (which takes the rest)."""
    cuts, total = [], 0.0
    for share in shares[:-1]:
        total += share
        cuts.append(round(total * BUCKETS / 100))
    return cuts


def variant_of(seed: int, shares: Sequence[float], contact_id: int) -> int:
    bucket = draw(seed, VARIANT_KEY, contact_id)
    for index, cut in enumerate(variant_cuts(shares)):
        if bucket < cut:
            return index
    return len(shares) - 1


def variant_sql(seed: int, shares: Sequence[float], contact_id: ColumnElement[Any]) -> ColumnElement[Any]:
    bucket = draw_sql(seed, VARIANT_KEY, contact_id)
    whens = [(bucket < cut, index) for index, cut in enumerate(variant_cuts(shares))]
    return case(*whens, else_=len(shares) - 1)
