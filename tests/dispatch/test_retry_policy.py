"""The retry policy, one row per error class or code of ``whatsapp/errors.py`` and attempt count.

``decide(error, attempts)`` is pure: no database, no clock, no simulator. ``attempts`` counts the send
being decided (1 for a message's first send)."""

from __future__ import annotations

import aiohttp
import pytest

from herald.dispatch.retry_policy import (
    MAX_TRANSIENT_ATTEMPTS,
    GiveUp,
    MaybeSent,
    PauseCampaign,
    RetryAfter,
    SlowDown,
    decide,
)
from herald.whatsapp import RefusedByPolicy, WhatsAppError
from herald.whatsapp.errors import reason_for_code


def graph(code: int, http_status: int = 400) -> WhatsAppError:
    return WhatsAppError(f"(#{code}) from Graph", code=code, http_status=http_status)


def no_answer() -> WhatsAppError:
    """A timeout or a reset after the request left."""
    return WhatsAppError("timed out")


def never_connected() -> WhatsAppError:
    error = WhatsAppError("cannot connect")
    error.__cause__ = aiohttp.ClientConnectorError(
        aiohttp.client_reqrep.ConnectionKey("graph.example", 443, True, True, None, None, None),  # type: ignore[arg-type]
        OSError(111, "refused"),
    )
    return error


def http(status: int) -> WhatsAppError:
    return WhatsAppError(f"HTTP {status}", http_status=status)


MARKETING_WAIT = "retrying after Meta's per-user marketing limit (131049)"
MARKETING_REASON = "Meta chose not to deliver (per-user marketing limit)"

ROWS: list[tuple[str, WhatsAppError, int, object]] = [
    # 131056, pair rate limit: only this recipient waits, max(6 s, 4^attempt s), 4^5 at most.
    ("131056 first send", graph(131056), 1, RetryAfter(6)),
    ("131056 second send", graph(131056), 2, RetryAfter(16)),
    ("131056 third send", graph(131056), 3, RetryAfter(64)),
    ("131056 fifth send", graph(131056), 5, RetryAfter(1024)),
    ("131056 ninth send", graph(131056), 9, RetryAfter(1024)),
    # 131049, Meta's per-user marketing limit: +24 h, +48 h, +96 h (tries at 0, 24, 72 and 168 h), each
    # try counted, while the next try falls within the campaign's deadline (7 days by default); then final.
    ("131049 first send", graph(131049), 1, RetryAfter(24 * 3600, wait_reason=MARKETING_WAIT)),
    ("131049 second send", graph(131049), 2, RetryAfter(48 * 3600, wait_reason=MARKETING_WAIT)),
    ("131049 third send", graph(131049), 3, RetryAfter(96 * 3600, wait_reason=MARKETING_WAIT)),
    ("131049 fourth send", graph(131049), 4, GiveUp(MARKETING_REASON, 131049)),
    ("131049 tenth send", graph(131049), 10, GiveUp(MARKETING_REASON, 131049)),
    # 130429, the number's throughput: slow the number down, retry in a second, refunded.
    ("130429 first send", graph(130429), 1, SlowDown(1)),
    ("130429 tenth send", graph(130429), 10, SlowDown(1)),
    # Retry now (network trouble, 5xx, transient Graph codes): 0.5 × 2^attempt s, up to 6 attempts.
    ("131000 first send", graph(131000, 500), 1, RetryAfter(1.0)),
    ("131016 second send", graph(131016, 503), 2, RetryAfter(2.0)),
    ("2 third send", graph(2, 503), 3, RetryAfter(4.0)),
    ("133004 fifth send", graph(133004, 503), 5, RetryAfter(16.0)),
    ("131000 sixth send", graph(131000, 500), 6, GiveUp(reason_for_code(131000), 131000)),
    ("HTTP 502 without a code, first send", http(502), 1, RetryAfter(1.0)),
    ("HTTP 502 without a code, sixth send", http(502), 6,
     GiveUp("WhatsApp temporarily unavailable (HTTP 502)", None)),
    ("never connected, first send", never_connected(), 1, RetryAfter(1.0)),
    ("never connected, sixth send", never_connected(), 6, GiveUp("could not reach WhatsApp", None)),
    # Back off (rate limits other than 130429 and 131056): 2^attempt s, at most 300 s, up to 6 attempts.
    ("4 first send", graph(4), 1, RetryAfter(2)),
    ("80007 third send", graph(80007), 3, RetryAfter(8)),
    ("613 fifth send", graph(613), 5, RetryAfter(32)),
    ("131057 fifth send", graph(131057), 5, RetryAfter(32)),
    ("613 sixth send", graph(613), 6, GiveUp(reason_for_code(613), 613)),
    ("HTTP 429 without a code", http(429), 2, RetryAfter(4)),
    # No answer after the request left: WhatsApp may have it; never resent.
    ("no answer, first send", no_answer(), 1, MaybeSent()),
    ("no answer, sixth send", no_answer(), 6, MaybeSent()),
    # Pause class: every message would fail alike.
    ("131048 spam limit", graph(131048), 1, PauseCampaign(reason_for_code(131048))),
    ("131031 account locked", graph(131031), 3, PauseCampaign(reason_for_code(131031))),
    ("190 token expired", graph(190, 401), 1, PauseCampaign(reason_for_code(190))),
    ("200 permission range", graph(200, 403), 1, PauseCampaign("WhatsApp API permission missing")),
    ("HTTP 401 without a code", http(401), 1, PauseCampaign("unexpected answer from WhatsApp (HTTP 401)")),
    ("refused by the outbound policy", RefusedByPolicy("Graph API base not allowed"), 1,
     PauseCampaign("Graph API base not allowed")),
    # Template unusable: pause too, with the template's reason.
    ("132001 template missing", graph(132001), 1, PauseCampaign(reason_for_code(132001))),
    ("132015 template paused", graph(132015), 2, PauseCampaign(reason_for_code(132015))),
    ("132016 template disabled", graph(132016), 1, PauseCampaign(reason_for_code(132016))),
    # Never: this message cannot be sent; the reason goes to the report.
    ("131026 not a WhatsApp user", graph(131026), 1, GiveUp(reason_for_code(131026), 131026)),
    ("131050 opted out", graph(131050), 1, GiveUp(reason_for_code(131050), 131050)),
    ("132000 parameter count", graph(132000), 1, GiveUp(reason_for_code(132000), 132000)),
    ("HTTP 400 without a code", http(400), 1, GiveUp("unexpected answer from WhatsApp (HTTP 400)", None)),
    ("an unknown code", graph(999999), 1, GiveUp("from Graph", 999999)),
]


@pytest.mark.parametrize(("error", "attempts", "expected"), [r[1:] for r in ROWS], ids=[r[0] for r in ROWS])
def test_decision(error: WhatsAppError, attempts: int, expected: object) -> None:
    assert decide(error, attempts) == expected


@pytest.mark.parametrize("code", [131000, 613])
def test_a_transient_error_is_retried_until_the_sixth_attempt(code: int) -> None:
    decisions = [decide(graph(code, 503), attempts) for attempts in range(1, MAX_TRANSIENT_ATTEMPTS + 1)]
    assert all(isinstance(d, RetryAfter) for d in decisions[:-1])
    assert isinstance(decisions[-1], GiveUp)
    assert MAX_TRANSIENT_ATTEMPTS == 6


def test_back_off_is_capped_at_five_minutes(monkeypatch: pytest.MonkeyPatch) -> None:
    # Reached only with a raised attempt limit; the cap is part of the policy all the same.
    from herald.dispatch import retry_policy

    monkeypatch.setattr(retry_policy, "MAX_TRANSIENT_ATTEMPTS", 20)
    assert decide(graph(613), 9) == RetryAfter(300)


@pytest.mark.parametrize(("days", "attempts", "retried_in_hours"), [
    (2, 1, 24), (2, 2, None),  # a 2-day deadline: tries at 0 and 24 h (the next would be at 72 h)
    (3, 2, 48), (3, 3, None),
    (30, 4, 192), (30, 5, None),  # at most 30 days: tries at 0, 24, 72, 168 and 360 h
    (0, 1, None),  # no retries at all
])
def test_131049_stops_at_the_campaigns_deadline(days: float, attempts: int, retried_in_hours: int | None) -> None:
    decision = decide(graph(131049), attempts, marketing_retry_days=days)
    if retried_in_hours is None:
        assert decision == GiveUp(MARKETING_REASON, 131049)
    else:
        assert decision == RetryAfter(retried_in_hours * 3600, wait_reason=MARKETING_WAIT)
