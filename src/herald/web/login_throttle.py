"""Failed sign-ins, counted per client address and per account, so that guessing passwords is slow
and nobody can lock a user out of their own address.

Three moving windows (the ``limits`` library, in this process's memory):

- per client address (an IPv6 address counts by its /64): ``per_address`` failures;
- per client address and account: ``per_address_account`` failures;
- per account from every address: ``per_account`` failures, a cap on slow guessing from many
  addresses, high enough that one attacker's address fills its own windows long before.

An attempt is refused before its password is checked when one of its windows is full, counting the
attempts of the same address or account still being checked, so concurrent requests cannot slip
past. A success clears only its (address, account) window. Accounts are keyed by the email as typed,
whether or not such a user exists, so the answers never tell which emails exist. With several
servers each counts its own failures: the limits hold per server process.
"""

from __future__ import annotations

import ipaddress
import math
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from limits import RateLimitItem, parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

from herald.kit.errors import TooManyRequests

Window = tuple[RateLimitItem, tuple[str, ...]]


@dataclass(frozen=True, slots=True)
class LoginLimits:
    """How many failures each window allows (``limits`` notation: "COUNT/PERIOD")."""

    per_address: str = "10/5 minutes"
    per_address_account: str = "5/5 minutes"
    per_account: str = "50/15 minutes"


def client_network(address: str) -> str:
    """The key of a client address: IPv4 as is, IPv6 by its /64 (one host usually holds a whole /64)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address[:100]
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


def throttled_message(retry_after: int) -> str:
    minutes = max(1, math.ceil(retry_after / 60))
    unit = "minute" if minutes == 1 else "minutes"
    return f"Too many failed sign-ins from your address or for this account. Try again in {minutes} {unit}."


class LoginAttempt:
    """One password check under way: report how it went with ``failed()`` or ``succeeded()``."""

    def __init__(self, limiter: MovingWindowRateLimiter, windows: list[Window]) -> None:
        self._limiter = limiter
        self._windows = windows

    def failed(self) -> None:
        for item, ids in self._windows:
            self._limiter.hit(item, *ids)

    def succeeded(self) -> None:
        item, ids = self._windows[1]  # the (address, account) window
        self._limiter.clear(item, *ids)


class LoginThrottle:
    """One per application (``app.state.login_throttle``)."""

    def __init__(self, limits: LoginLimits | None = None) -> None:
        limits = limits or LoginLimits()
        self._per_address = parse(limits.per_address)
        self._per_address_account = parse(limits.per_address_account)
        self._per_account = parse(limits.per_account)
        self._limiter = MovingWindowRateLimiter(MemoryStorage())
        self._in_flight: Counter[tuple[str, ...]] = Counter()

    def _windows(self, address: str, account: str) -> list[Window]:
        network = client_network(address)
        return [
            (self._per_address, ("address", network)),
            (self._per_address_account, ("address-account", network, account)),
            (self._per_account, ("account", account)),
        ]

    def _wait(self, item: RateLimitItem, ids: tuple[str, ...]) -> int | None:
        """Seconds until this window admits one more attempt, or None when it admits one now."""
        pending = self._in_flight[ids]
        if self._limiter.test(item, *ids, cost=1 + pending):
            return None
        stats = self._limiter.get_window_stats(item, *ids)
        if stats.remaining > 0:  # full only with the attempts still being checked: they end soon
            return 1
        return max(1, math.ceil(stats.reset_time - time.time()))

    @contextmanager
    def attempt(self, *, address: str, account: str) -> Iterator[LoginAttempt]:
        """Admit one password check, or raise ``TooManyRequests`` (429 with Retry-After)."""
        windows = self._windows(address, account.strip().lower())
        waits = [wait for item, ids in windows if (wait := self._wait(item, ids)) is not None]
        if waits:
            retry_after = max(waits)
            raise TooManyRequests(throttled_message(retry_after), retry_after=retry_after, code="login_throttled")
        for _, ids in windows:
            self._in_flight[ids] += 1
        try:
            yield LoginAttempt(self._limiter, windows)
        finally:
            for _, ids in windows:
                self._in_flight[ids] -= 1
                if self._in_flight[ids] <= 0:
                    del self._in_flight[ids]
