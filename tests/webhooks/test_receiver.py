"""``/webhooks/whatsapp``: the handshake, and signed POSTs stored once, whole, or not at all."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import orjson
import pytest
from fastapi import FastAPI
from sqlalchemy import select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

from herald.kit.db import Database
from herald.kit.types import utcnow
from herald.models import WebhookEvent, WhatsAppNumber
from herald.webhooks import events as ev
from herald.webhooks import ingest
from herald.whatsapp import ErrorInfo, ValueErrors
from herald.whatsapp.webhooks import signature_header
from tests.conftest import OrgHandle
from tests.dispatch.helpers import stats
from tests.factories import make_number
from tests.webhooks.helpers import (
    APP_SECRET,
    NUMBER_1,
    NUMBER_2,
    WABA_1,
    WABA_2,
    WEBHOOK,
    drain,
    event_count,
    make_campaign,
    make_messages,
    message_states,
    post_signed,
    status_body,
    unapplied,
)

CORPUS = Path(__file__).parents[1] / "whatsapp" / "corpus"
OTHER_SECRET = "another-numbers-app-secret"
SIM = "http://127.0.0.1:9"


@pytest.fixture
async def numbers(app: FastAPI, database: Database, org: OrgHandle, other_org: OrgHandle) -> dict[str, int]:
    """Our number, and a number of another app (another org, another app secret)."""
    box = app.state.secret_box
    ours = await make_number(database, box, org_id=org.id, base_url=SIM, phone_number_id=NUMBER_1, waba_id=WABA_1,
                             app_secret=APP_SECRET)
    theirs = await make_number(database, box, org_id=other_org.id, base_url=SIM, phone_number_id=NUMBER_2,
                               waba_id=WABA_2, app_secret=OTHER_SECRET)
    return {NUMBER_1: ours, NUMBER_2: theirs}


def error_code(response: httpx.Response) -> str:
    return str(response.json()["error"]["code"])


class TestVerify:
    async def test_the_number_verify_token_echoes_the_raw_challenge(
        self, client: httpx.AsyncClient, numbers: dict[str, int]
    ) -> None:
        params = {"hub.mode": "subscribe", "hub.verify_token": "verify", "hub.challenge": "1158201444"}
        response = await client.get(WEBHOOK, params=params)
        assert response.status_code == 200
        assert response.text == "1158201444"

    @pytest.mark.parametrize(("mode", "token"), [("subscribe", "not-ours"), ("subscribe", ""), ("unsubscribe", "verify")])
    async def test_a_wrong_token_or_mode_is_refused(
        self, client: httpx.AsyncClient, numbers: dict[str, int], mode: str, token: str
    ) -> None:
        params = {"hub.mode": mode, "hub.verify_token": token, "hub.challenge": "1158201444"}
        response = await client.get(WEBHOOK, params=params)
        assert response.status_code == 403
        assert "1158201444" not in response.text


class TestReceive:
    async def test_an_unsigned_post_is_refused_and_stores_nothing(
        self, client: httpx.AsyncClient, database: Database, numbers: dict[str, int]
    ) -> None:
        raw = (CORPUS / "statuses_no_contacts.json").read_bytes()
        response = await client.post(WEBHOOK, content=raw, headers={"content-type": "application/json"})
        assert (response.status_code, error_code(response)) == (401, "missing_signature")
        assert await event_count(database) == 0

    @pytest.mark.parametrize("header", [
        "sha256=" + "0" * 64,
        "sha1=" + hmac.new(APP_SECRET.encode(), b"x", hashlib.sha1).hexdigest(),
        "sha256=",
        "garbage",
    ])
    async def test_a_wrong_signature_is_refused_and_stores_nothing(
        self, client: httpx.AsyncClient, database: Database, numbers: dict[str, int], header: str
    ) -> None:
        raw = (CORPUS / "statuses_no_contacts.json").read_bytes()
        response = await client.post(WEBHOOK, content=raw, headers={"x-hub-signature-256": header})
        assert (response.status_code, error_code(response)) == (401, "bad_signature")
        assert await event_count(database) == 0

    async def test_a_signature_over_other_bytes_is_refused(
        self, client: httpx.AsyncClient, database: Database, numbers: dict[str, int]
    ) -> None:
        raw = (CORPUS / "statuses_no_contacts.json").read_bytes()
        reformatted = orjson.dumps(orjson.loads(raw))  # same JSON, other bytes
        header = signature_header(reformatted, APP_SECRET)
        response = await client.post(WEBHOOK, content=raw, headers={"x-hub-signature-256": header})
        assert (response.status_code, error_code(response)) == (401, "bad_signature")
        assert await event_count(database) == 0

    async def test_a_post_signed_with_another_numbers_app_secret_is_refused(
        self, client: httpx.AsyncClient, database: Database, numbers: dict[str, int]
    ) -> None:
        raw = (CORPUS / "statuses_no_contacts.json").read_bytes()  # names number 1090001 (ours)
        response = await post_signed(client, raw, OTHER_SECRET)
        assert (response.status_code, error_code(response)) == (401, "bad_signature")
        assert await event_count(database) == 0

    async def test_a_post_naming_two_numbers_must_verify_against_both(
        self, client: httpx.AsyncClient, database: Database, numbers: dict[str, int]
    ) -> None:
        raw = (CORPUS / "batched_multi_entry.json").read_bytes()  # names 1090001 and 1090002
        for secret in (APP_SECRET, OTHER_SECRET):
            response = await post_signed(client, raw, secret)
            assert (response.status_code, error_code(response)) == (401, "bad_signature")
        assert await event_count(database) == 0

    async def test_a_post_for_an_unregistered_number_is_refused(
        self, client: httpx.AsyncClient, database: Database, numbers: dict[str, int]
    ) -> None:
        raw = status_body([{"id": "wamid.x", "status": "sent", "timestamp": "1767225600", "recipient_id": "1"}],
                          phone_number_id="1099999", waba_id="1099999")
        response = await post_signed(client, raw)
        assert (response.status_code, error_code(response)) == (401, "unknown_number")
        assert await event_count(database) == 0

    @pytest.mark.parametrize("raw", [
        b'{"object": "whatsapp_business_account", "entry": [',
        b"not json at all",
        b"",
    ])
    async def test_a_body_that_is_not_json_is_malformed(
        self, client: httpx.AsyncClient, database: Database, numbers: dict[str, int], raw: bytes
    ) -> None:
        response = await post_signed(client, raw)
        assert (response.status_code, error_code(response)) == (400, "malformed_webhook")
        assert await event_count(database) == 0

    async def test_a_signed_body_of_the_wrong_shape_is_malformed_and_stores_nothing(
        self, client: httpx.AsyncClient, database: Database, numbers: dict[str, int]
    ) -> None:
        good = {"id": "wamid.good", "status": "sent", "timestamp": "1767225600", "recipient_id": "1"}
        bad = {"id": "wamid.bad", "status": "delivered", "timestamp": "yesterday", "recipient_id": "1"}
        response = await post_signed(client, status_body([good, bad]))
        assert (response.status_code, error_code(response)) == (400, "malformed_webhook")
        assert await event_count(database) == 0  # not even the good half

    async def test_a_body_over_8_mb_is_refused_before_it_is_read(
        self, client: httpx.AsyncClient, database: Database, numbers: dict[str, int]
    ) -> None:
        raw = b'{"entry": [], "pad": "' + b"x" * ingest.MAX_BODY_BYTES + b'"}'
        response = await post_signed(client, raw)
        assert (response.status_code, error_code(response)) == (413, "body_too_large")
        assert await event_count(database) == 0

    async def test_a_valid_post_is_stored_once_and_a_replay_adds_nothing(
        self, client: httpx.AsyncClient, database: Database, numbers: dict[str, int]
    ) -> None:
        raw = (CORPUS / "statuses_duplicates.json").read_bytes()  # 5 statuses, 3 distinct
        first = await post_signed(client, raw)
        assert first.status_code == 200
        assert first.json() == {"received": 5, "new": 3}
        replay = await post_signed(client, raw)
        assert replay.json() == {"received": 5, "new": 0}
        assert await event_count(database) == 3
        assert await event_count(database, kind="status") == 3

    async def test_only_the_events_of_numbers_registered_here_are_stored(
        self, client: httpx.AsyncClient, database: Database, app: FastAPI, org: OrgHandle
    ) -> None:
        await make_number(database, app.state.secret_box, org_id=org.id, base_url=SIM, phone_number_id=NUMBER_1,
                          waba_id=WABA_1, app_secret=APP_SECRET)
        raw = (CORPUS / "batched_multi_entry.json").read_bytes()  # 1090002 is not registered here
        response = await post_signed(client, raw)
        assert response.status_code == 200
        # number 1090001: sent, sent, delivered, one inbound message; number 1090002's three are not ours
        assert response.json() == {"received": 4, "new": 4}
        assert await event_count(database, phone_number_id=NUMBER_2) == 0

    async def test_events_are_committed_before_the_answer(
        self, app: FastAPI, database: Database, numbers: dict[str, int], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A 200 tells Meta never to send the events again: it must not precede a commit that fails."""

        async def failing_commit(self: AsyncSession) -> None:
            raise OperationalError("COMMIT", {}, Exception("disk I/O error"))

        raw = (CORPUS / "statuses_no_contacts.json").read_bytes()
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://herald.test") as http:
            monkeypatch.setattr(AsyncSession, "commit", failing_commit)
            response = await post_signed(http, raw)
            monkeypatch.undo()
        assert response.status_code != 200
        assert await event_count(database) == 0

    @pytest.mark.slow
    async def test_a_3_mb_batch_is_stored_and_applied_whole(
        self, client: httpx.AsyncClient, database: Database, org: OrgHandle, numbers: dict[str, int]
    ) -> None:
        entries, changes, per_change = 20, 10, 50  # 10,000 statuses
        total = entries * changes * per_change
        campaign = await make_campaign(database, org_id=org.id, number_id=numbers[NUMBER_1])
        wamids = [f"wamid.HBgNNTUxMTk4ODg4Nzc3NxUCABEYEjQ2{i:018X}AA==" for i in range(total)]
        ids = await make_messages(database, org_id=org.id, campaign_id=campaign,
                                  specs=[{"status": "sent", "wamid": w, "sent_at": None} for w in wamids])
        raw = big_batch(ids, wamids, entries=entries, changes=changes, per_change=per_change)
        assert 2_500_000 < len(raw) < ingest.MAX_BODY_BYTES

        response = await post_signed(client, raw)

        assert response.status_code == 200
        assert response.json() == {"received": total, "new": total}
        assert await event_count(database, kind="status") == total
        await drain(database)
        assert await unapplied(database) == 0
        assert await event_count(database, outcome="applied") == total
        states = await message_states(database, [campaign])
        assert {s[0] for s in states.values()} == {"delivered"}
        assert all(s[3] is not None for s in states.values())  # delivered_at, from the event
        counts = await stats(database, campaign)
        assert (counts["sent"], counts["received"], counts["unknown"], counts["pending"]) == (total, total, 0, 0)


def big_batch(ids: list[int], wamids: list[str], *, entries: int, changes: int, per_change: int) -> bytes:
    """Many entries × changes × statuses, every message delivered once, padded like Meta's statuses."""
    items = iter(zip(ids, wamids, strict=True))
    body = {"object": "whatsapp_business_account", "entry": []}
    for _ in range(entries):
        entry = {"id": WABA_1, "changes": []}
        for _ in range(changes):
            statuses = []
            for _ in range(per_change):
                message_id, wamid = next(items)
                statuses.append({
                    "id": wamid, "status": "delivered", "timestamp": str(1767225600 + message_id % 600),
                    "recipient_id": f"55119{message_id:08d}", "biz_opaque_callback_data": str(message_id),
                    "conversation": {"id": "b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6", "origin": {"type": "marketing"}},
                    "pricing": {"billable": True, "pricing_model": "PMP", "type": "regular", "category": "marketing"},
                })
            entry["changes"].append({"field": "messages", "value": {
                "messaging_product": "whatsapp",
                "metadata": {"display_phone_number": "551130000000", "phone_number_id": NUMBER_1},
                "contacts": [{"profile": {"name": "Cliente"}, "wa_id": "5511900000000"}],
                "statuses": statuses,
            }})
        body["entry"].append(entry)
    return orjson.dumps(body)


class TestNumberChangedBetweenPosts:
    """The receiver remembers which numbers a POST names; a change to them must count at once."""

    async def _set_number(self, database: Database, number_id: int, **values: str) -> None:
        async with database.session() as session:
            await session.execute(update(WhatsAppNumber).where(WhatsAppNumber.id == number_id).values(**values))

    async def test_a_new_app_secret_counts_from_the_next_post(
        self, client: httpx.AsyncClient, app: FastAPI, database: Database, numbers: dict[str, int]
    ) -> None:
        first = status_body([{"id": "wamid.a", "status": "sent", "timestamp": "1767225600", "recipient_id": "1"}])
        assert (await post_signed(client, first)).status_code == 200
        await self._set_number(database, numbers[NUMBER_1], app_secret_enc=app.state.secret_box.encrypt("rotated"))
        second = status_body([{"id": "wamid.b", "status": "sent", "timestamp": "1767225600", "recipient_id": "1"}])
        response = await post_signed(client, second)  # signed with the secret it had before
        assert (response.status_code, error_code(response)) == (401, "bad_signature")
        assert await event_count(database) == 1
        response = await post_signed(client, second, "rotated")
        assert response.json() == {"received": 1, "new": 1}

    async def test_a_number_no_longer_registered_is_refused_at_once(
        self, client: httpx.AsyncClient, database: Database, numbers: dict[str, int]
    ) -> None:
        first = status_body([{"id": "wamid.a", "status": "sent", "timestamp": "1767225600", "recipient_id": "1"}])
        assert (await post_signed(client, first)).status_code == 200
        await self._set_number(database, numbers[NUMBER_1], phone_number_id="1098888")
        second = status_body([{"id": "wamid.b", "status": "sent", "timestamp": "1767225600", "recipient_id": "1"}])
        response = await post_signed(client, second)
        assert (response.status_code, error_code(response)) == (401, "unknown_number")
        assert await event_count(database) == 1


class TestStore:
    async def test_a_payload_with_an_integer_past_64_bits_is_stored_as_sent(self, database: Database, org: OrgHandle) -> None:
        row = {"dedupe_key": "s:wamid.big:failed", "kind": "status", "org_id": org.id, "phone_number_id": NUMBER_1,
               "payload": {"wamid": "wamid.big", "errors": [{"code": 2**70}]}, "event_at": utcnow(), "received_at": utcnow()}
        async with database.session() as session:
            assert await ingest.store(session, [row, dict(row)]) == 1
        async with database.read_session() as session:
            payload = (await session.execute(select(WebhookEvent.payload))).scalar_one()
        assert payload["errors"][0]["code"] == 2**70


def test_a_numbers_errors_retried_within_the_hour_are_one_event() -> None:
    """Meta's errors-only change has no time of its own: a retry received minutes after the first POST
    must not be a second entry on the number, while the same error an hour later is a new one."""
    first = datetime(2026, 3, 1, 10, 0, 5, tzinfo=UTC)
    errors = (ErrorInfo(130429, "Rate limit hit", "(#130429) Rate limit hit", None),)

    def key(at: datetime) -> str:
        return ev.dedupe_key(ev.VALUE_ERRORS, ValueErrors("106540352242922", errors, at))

    assert key(first) == key(first + timedelta(minutes=7))
    assert key(first) != key(first + timedelta(hours=1))
    assert key(first) != ev.dedupe_key(ev.VALUE_ERRORS, ValueErrors("106540352242922",
                                                                     (ErrorInfo(131000, "Something went wrong", None, None),), first))
