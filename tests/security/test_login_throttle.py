"""Sign-in throttling: per client address and per account, never a lock anyone can put on an email;
the same answer, and the same work, whether the email exists or not; argon2 off the event loop."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable

import httpx
import pytest
from fastapi import FastAPI

from herald.auth.principal import Role
from herald.kit import crypto
from herald.kit.db import Database
from herald.web.login_throttle import LoginLimits, LoginThrottle, client_network
from tests.conftest import OrgHandle
from tests.web.helpers import PASSWORD, csrf_of, log_in, make_user

pytestmark = pytest.mark.slow

Browser = Callable[[str], httpx.AsyncClient]


@pytest.fixture
async def from_address(app: FastAPI) -> AsyncIterator[Browser]:
    """``from_address("10.0.0.1")``: a browser whose requests come from that client address."""
    clients: list[httpx.AsyncClient] = []

    def make(address: str) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=app, client=(address, 40000))
        client = httpx.AsyncClient(transport=transport, base_url="http://herald.test")
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.aclose()


class CountingHasher:
    """The real argon2 hasher, counting its password checks and noting the threads they ran on."""

    def __init__(self, real: object) -> None:
        self.real = real
        self.checks = 0
        self.threads: set[int] = set()
        self._lock = threading.Lock()

    def hash(self, password: str) -> str:
        return self.real.hash(password)  # type: ignore[attr-defined, no-any-return]

    def verify(self, password_hash: str, password: str) -> bool:
        with self._lock:
            self.checks += 1
            self.threads.add(threading.get_ident())
        return self.real.verify(password_hash, password)  # type: ignore[attr-defined, no-any-return]

    def taken(self) -> int:
        with self._lock:
            checks, self.checks = self.checks, 0
        return checks


@pytest.fixture
def hasher(monkeypatch: pytest.MonkeyPatch) -> CountingHasher:
    counting = CountingHasher(crypto._hasher)
    monkeypatch.setattr(crypto, "_hasher", counting)
    return counting


def alert(answer: httpx.Response) -> str:
    return answer.text.split('role="alert">', 1)[1].split("<", 1)[0]


async def deactivate(client: httpx.AsyncClient, org: OrgHandle, database: Database, email: str) -> None:
    users = (await client.get("/api/v1/users", headers=org.auth)).json()
    user_id = next(u["id"] for u in users if u["email"] == email)
    answer = await client.patch(f"/api/v1/users/{user_id}", json={"active": False}, headers=org.auth)
    assert answer.status_code == 200


class TestThrottle:
    async def test_failures_from_one_address_do_not_lock_the_account_from_another(
        self, database: Database, org: OrgHandle, from_address: Browser
    ) -> None:
        email = await make_user(database, org_id=org.id, role=Role.admin)
        attacker, owner = from_address("203.0.113.7"), from_address("198.51.100.20")
        for _ in range(5):
            assert (await log_in(attacker, email, "guess")).status_code == 401
        throttled = await log_in(attacker, email)
        assert throttled.status_code == 429 and int(throttled.headers["retry-after"]) > 0
        assert (await log_in(owner, email)).status_code == 303

    async def test_an_address_that_fails_too_often_is_throttled_for_every_account(
        self, database: Database, org: OrgHandle, from_address: Browser
    ) -> None:
        email = await make_user(database, org_id=org.id, role=Role.editor)
        sprayer, owner = from_address("203.0.113.8"), from_address("198.51.100.21")
        for n in range(10):  # one guess each for ten emails: no (address, account) window fills
            assert (await log_in(sprayer, f"user{n}@acme.test", "guess")).status_code == 401
        throttled = await log_in(sprayer, email)
        assert throttled.status_code == 429 and "Too many failed sign-ins" in throttled.text
        assert (await log_in(owner, email)).status_code == 303

    async def test_one_ipv6_host_counts_as_its_whole_64(
        self, database: Database, org: OrgHandle, from_address: Browser
    ) -> None:
        email = await make_user(database, org_id=org.id, role=Role.editor)
        for n in range(1, 6):
            assert (await log_in(from_address(f"2001:db8:1:2::{n}"), email, "guess")).status_code == 401
        assert (await log_in(from_address("2001:db8:1:2::99"), email)).status_code == 429
        assert (await log_in(from_address("2001:db8:1:3::1"), email)).status_code == 303
        assert client_network("::ffff:192.0.2.1") == "192.0.2.1"

    async def test_an_account_has_a_cap_over_every_address(
        self, app: FastAPI, database: Database, org: OrgHandle, from_address: Browser
    ) -> None:
        app.state.login_throttle = LoginThrottle(LoginLimits(per_account="3/15 minutes"))
        email = await make_user(database, org_id=org.id, role=Role.editor)
        for n in range(3):
            assert (await log_in(from_address(f"203.0.113.{n + 10}"), email, "guess")).status_code == 401
        assert (await log_in(from_address("198.51.100.22"), email)).status_code == 429
        assert (await log_in(from_address("198.51.100.22"), "someone-else@acme.test", "guess")).status_code == 401

    async def test_a_success_clears_the_failures_of_that_address_and_account(
        self, database: Database, org: OrgHandle, from_address: Browser
    ) -> None:
        email = await make_user(database, org_id=org.id, role=Role.editor)
        browser = from_address("198.51.100.23")
        for _ in range(2):
            for _ in range(4):
                assert (await log_in(browser, email, "typo")).status_code == 401
            assert (await log_in(browser, email)).status_code == 303

    async def test_concurrent_guesses_cannot_slip_past_the_limit(
        self, database: Database, org: OrgHandle, from_address: Browser, hasher: CountingHasher
    ) -> None:
        email = await make_user(database, org_id=org.id, role=Role.editor)
        browser = from_address("203.0.113.9")
        token = csrf_of((await browser.get("/ui/login")).text)
        hasher.taken()
        answers = await asyncio.gather(*(
            browser.post("/ui/login", data={"email": email, "password": f"guess {n}", "csrf_token": token})
            for n in range(20)
        ))
        statuses = sorted(a.status_code for a in answers)
        assert statuses == [401] * 5 + [429] * 15
        assert hasher.taken() == 5


class TestSameAnswer:
    async def test_unknown_wrong_and_deactivated_answer_alike_after_one_argon2_check_each(
        self, client: httpx.AsyncClient, database: Database, org: OrgHandle, from_address: Browser,
        hasher: CountingHasher,
    ) -> None:
        active = await make_user(database, org_id=org.id, role=Role.editor, email="active@acme.test")
        inactive = await make_user(database, org_id=org.id, role=Role.editor, email="gone@acme.test")
        await deactivate(client, org, database, inactive)
        browser = from_address("198.51.100.30")
        hasher.taken()
        seen = set()
        for email, password in (("nobody@acme.test", PASSWORD), (active, "wrong password"), (inactive, PASSWORD),
                                (inactive, "wrong password")):
            answer = await log_in(browser, email, password)
            assert hasher.taken() == 1, email
            seen.add((answer.status_code, alert(answer), answer.headers.get("retry-after")))
        assert seen == {(401, "Wrong email or password.", None)}

    async def test_a_throttled_email_answers_alike_whether_or_not_it_exists(
        self, database: Database, org: OrgHandle, from_address: Browser, hasher: CountingHasher
    ) -> None:
        known = await make_user(database, org_id=org.id, role=Role.admin, email="known@acme.test")
        runs, waits = {}, []
        for n, email in enumerate((known, "unknown@acme.test")):
            browser = from_address(f"203.0.113.{50 + n}")
            answers, checks = [], []
            for password in ["guess"] * 5 + [PASSWORD]:
                answer = await log_in(browser, email, password)
                answers.append((answer.status_code, alert(answer), "retry-after" in answer.headers))
                checks.append(hasher.taken())
            runs[email] = answers, checks
            waits.append(int(answer.headers["retry-after"]))
        assert runs[known] == runs["unknown@acme.test"]
        answers, checks = runs[known]
        assert [a[0] for a in answers] == [401] * 5 + [429] and checks == [1] * 5 + [0]
        assert answers[-1][1] == "Too many failed sign-ins from your address or for this account. Try again in 5 minutes."
        # Retry-After counts down by the second: the same up to the time between the two runs.
        assert all(240 < wait <= 300 for wait in waits) and abs(waits[0] - waits[1]) <= 10


class TestEventLoop:
    async def test_a_login_flood_checks_passwords_off_the_event_loop_on_bounded_threads(
        self, database: Database, org: OrgHandle, from_address: Browser, hasher: CountingHasher
    ) -> None:
        email = await make_user(database, org_id=org.id, role=Role.editor)
        browsers = [from_address(f"198.51.100.{100 + n}") for n in range(20)]
        tokens = [csrf_of((await b.get("/ui/login")).text) for b in browsers]
        hasher.threads.clear()
        answers = await asyncio.gather(*(
            b.post("/ui/login", data={"email": email, "password": PASSWORD, "csrf_token": t})
            for b, t in zip(browsers, tokens, strict=True)
        ))
        assert [a.status_code for a in answers] == [303] * 20
        assert hasher.taken() == 20
        # Every check ran off the event loop's thread (on the loop, the twenty checks ran back to back
        # and stalled every other request for one to two seconds), on the password pool's own bounded
        # threads: a flood holds at most PASSWORD_THREADS argon2 memories at once. (How long the loop
        # then stalls is a matter of CPU scheduling, not asserted here: timing is for `make bench`.)
        assert threading.get_ident() not in hasher.threads
        assert 1 <= len(hasher.threads) <= crypto.PASSWORD_THREADS
