"""Statuses applied to campaign messages: any arrival order, any duplicates, the same end state.

The corpus (tests/whatsapp/corpus) is posted signed, as Meta would, once in file order and once
shuffled with duplicates (files repeated, entries/changes/statuses reordered inside each body,
batches applied at random points); both runs must leave every message in the same status with the
same times, counters and reasons, and in the status ``expected_final_states.json`` gives.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from fastapi import FastAPI
from sqlalchemy import delete, select, update

from herald.campaigns import counters
from herald.kit.db import Database
from herald.kit.types import utcnow
from herald.models import (
    Base,
    CampaignMessage,
    CampaignStats,
    Contact,
    Engagement,
    WebhookEvent,
    WhatsAppNumber,
)
from tests.conftest import OrgHandle
from tests.dispatch.helpers import stats
from tests.factories import make_number
from tests.webhooks.helpers import (
    APP_SECRET,
    NUMBER_1,
    NUMBER_2,
    WABA_1,
    WABA_2,
    corpus_wamid,
    drain,
    make_campaign,
    make_messages,
    message,
    message_states,
    not_sent_reasons,
    outcomes,
    post_signed,
    settle,
    status,
    status_body,
    unapplied,
)

CORPUS = Path(__file__).parents[1] / "whatsapp" / "corpus"
EXPECTED: dict[str, str] = json.loads((CORPUS / "expected_final_states.json").read_text())
ALL_FILES = sorted(p.name for p in CORPUS.glob("*.json") if p.name != "expected_final_states.json")
STATUS_FILES = [n for n in ALL_FILES if b'"statuses"' in (CORPUS / n).read_bytes()]
SENT_AT = datetime(2025, 12, 31, 23, 59, tzinfo=UTC)  # our send time, just before the corpus's events
T0 = datetime.fromtimestamp(1767225600, tz=UTC)
MESSAGE_NUMBERS = range(1, 18)  # campaign messages 1..17 of the corpus; message 3 is number 1090002's
SEEDS = [1, 2, 3, 4, 5]
# Tables the applier and its handlers write besides campaign_messages and campaign_stats.
SCRATCH = ("webhook_events", "campaign_not_sent_reasons", "engagements", "inbound_messages", "bot_deliveries",
           "funnel_events", "inbox_cases", "jobs")
SIM = "http://127.0.0.1:9"


@dataclass
class Corpus:
    """An org with the corpus's two numbers (one app secret) and one ended campaign on each."""

    database: Database
    client: httpx.AsyncClient
    campaigns: list[int]
    ids: dict[int, int]  # corpus message number → campaign message id

    async def reset(self) -> None:
        """Back to the state before any webhook: every message `sent` at SENT_AT, counters to match."""
        async with self.database.session() as session:
            for table in reversed(Base.metadata.sorted_tables):
                if table.name in SCRATCH:
                    await session.execute(delete(table))
            await session.execute(
                update(CampaignMessage).where(CampaignMessage.campaign_id.in_(self.campaigns)).values(
                    status="sent", sent_at=SENT_AT, delivered_at=None, read_at=None, failed_at=None, replied_at=None,
                    error_msg=None, error_code=None, next_attempt_at=None, lease_until=None,
                )
            )
            for n, message_id in self.ids.items():
                await session.execute(update(CampaignMessage).where(CampaignMessage.id == message_id)
                                      .values(wamid=corpus_wamid(n)))
            await session.execute(update(Contact).values(opted_out_at=None))
            await session.execute(delete(CampaignStats).where(CampaignStats.campaign_id.in_(self.campaigns)))
            for campaign in self.campaigns:
                count = sum(1 for n in self.ids if (n == 3) == (campaign == self.campaigns[1]))
                await counters.ensure_row(session, campaign_id=campaign)
                await counters.add(session, campaign_id=campaign, targeted=count, sent=count)

    async def snapshot(self) -> dict[str, Any]:
        states = await message_states(self.database, self.campaigns)
        by_number = {n: states[i] for n, i in self.ids.items()}
        async with self.database.read_session() as session:
            opted_out = sorted((await session.execute(
                select(Contact.phone).where(Contact.opted_out_at.is_not(None))
            )).scalars())
        status_outcomes = {k: v for k, v in (await outcomes(self.database)).items() if k.startswith("s:")}
        return {
            "messages": by_number,
            "stats": [await stats(self.database, c) for c in self.campaigns],
            "reasons": [await not_sent_reasons(self.database, c) for c in self.campaigns],
            "opted_out": opted_out,
            "status_outcomes": status_outcomes,
        }

    async def post(self, raw: bytes) -> None:
        response = await post_signed(self.client, raw)
        assert response.status_code == 200, response.text

    async def ordered(self, files: list[str]) -> dict[str, Any]:
        await self.reset()
        for name in files:
            await self.post((CORPUS / name).read_bytes())
            await settle(self.database)
        return await self.snapshot()

    async def shuffled(self, files: list[str], seed: int) -> dict[str, Any]:
        await self.reset()
        rng = random.Random(seed)
        stream = files + rng.choices(files, k=len(files))  # every file once, many twice or more
        rng.shuffle(stream)
        for name in stream:
            await self.post(reordered((CORPUS / name).read_bytes(), rng))
            if rng.random() < 0.4:
                await settle(self.database)
        await settle(self.database)
        return await self.snapshot()


def reordered(raw: bytes, rng: random.Random) -> bytes:
    """The same updates in another order: entries, changes, and the items of each change shuffled."""
    document = orjson.loads(raw)
    rng.shuffle(document["entry"])
    for entry in document["entry"]:
        rng.shuffle(entry["changes"])
        for change in entry["changes"]:
            for key in ("statuses", "messages", "user_preferences"):
                items = change["value"].get(key)
                if isinstance(items, list):
                    rng.shuffle(items)
    return orjson.dumps(document)


@pytest.fixture
async def corpus(app: FastAPI, database: Database, org: OrgHandle, client: httpx.AsyncClient) -> Corpus:
    box = app.state.secret_box
    first = await make_number(database, box, org_id=org.id, base_url=SIM, phone_number_id=NUMBER_1, waba_id=WABA_1,
                              app_secret=APP_SECRET)
    second = await make_number(database, box, org_id=org.id, base_url=SIM, phone_number_id=NUMBER_2, waba_id=WABA_2,
                               app_secret=APP_SECRET)
    # Ended, so a 131049 failure stays failed (while a campaign runs it goes back for a retry in 24 h).
    campaign_1 = await make_campaign(database, org_id=org.id, number_id=first, status="ended")
    campaign_2 = await make_campaign(database, org_id=org.id, number_id=second, status="ended", name="Second")
    ids: dict[int, int] = {}
    for n in MESSAGE_NUMBERS:
        [ids[n]] = await make_messages(
            database, org_id=org.id, campaign_id=campaign_2 if n == 3 else campaign_1, phone_offset=n,
            specs=[{"status": "sent", "wamid": corpus_wamid(n), "sent_at": SENT_AT}],
        )
    return Corpus(database, client, [campaign_1, campaign_2], ids)


class TestCorpusOrder:
    @pytest.mark.parametrize("seed", SEEDS)
    async def test_status_files_in_any_order_end_as_the_ordered_stream_and_as_expected(
        self, corpus: Corpus, seed: int
    ) -> None:
        ordered = await corpus.ordered(STATUS_FILES)
        shuffled = await corpus.shuffled(STATUS_FILES, seed)

        assert shuffled == ordered
        final = {corpus_wamid(n): state[0] for n, state in ordered["messages"].items() if corpus_wamid(n) in EXPECTED}
        assert final == {w: "read" if s == "played" else s for w, s in EXPECTED.items()}
        assert set(ordered["status_outcomes"].values()) == {"applied"}

    @pytest.mark.parametrize("seed", SEEDS[:3])
    async def test_the_whole_corpus_in_any_order_ends_as_the_ordered_stream(self, corpus: Corpus, seed: int) -> None:
        ordered = await corpus.ordered(ALL_FILES)
        shuffled = await corpus.shuffled(ALL_FILES, seed)
        assert shuffled == ordered

    async def test_times_come_from_the_events(self, corpus: Corpus) -> None:
        result = await corpus.ordered(STATUS_FILES)
        fields = ("status", "wamid", "sent_at", "delivered_at", "read_at", "failed_at", "error_msg", "error_code")
        at = {n: dict(zip(fields, state, strict=True)) for n, state in result["messages"].items()}
        second = timedelta(seconds=1)
        assert (at[13]["sent_at"], at[13]["delivered_at"], at[13]["read_at"]) == (SENT_AT, T0 + 10 * second, T0 + 20 * second)
        assert (at[12]["delivered_at"], at[12]["read_at"]) == (None, T0 + second)  # delivered skipped
        assert (at[14]["status"], at[14]["failed_at"], at[14]["error_code"]) == ("failed", T0 + 8 * second, 131000)
        assert (at[16]["status"], at[16]["read_at"]) == ("read", T0 + 2 * second)  # played is read; read was first
        assert (at[6]["error_msg"], at[6]["error_code"]) == ("media could not be processed (bad or mismatched type)",
                                                            131053)
        assert result["stats"][0]["not_sent"] == 6  # 6, 7, 8, 9, 14, 17
        assert result["reasons"][0]["not a valid WhatsApp user"] == 1


@pytest.fixture
async def campaign(app: FastAPI, database: Database, org: OrgHandle) -> int:
    number = await make_number(database, app.state.secret_box, org_id=org.id, base_url=SIM, phone_number_id=NUMBER_1,
                               waba_id=WABA_1, app_secret=APP_SECRET)
    return await make_campaign(database, org_id=org.id, number_id=number, status="active")


async def failed_with_131049(client: httpx.AsyncClient, database: Database, org: OrgHandle, campaign: int,
                             wamid: str) -> int:
    """A message of the campaign, sent; then its ``failed`` status with 131049, posted and applied. Its id."""
    [sent] = await make_messages(database, org_id=org.id, campaign_id=campaign,
                                 specs=[{"status": "sent", "wamid": wamid, "sent_at": SENT_AT}])
    await post_signed(client, status_body([status(wamid, "failed", T0, callback=str(sent), code=131049)]))
    await drain(database)
    return sent


class TestApplyStatuses:
    async def test_a_status_for_a_message_herald_never_sent_is_kept_and_changes_nothing(
        self, client: httpx.AsyncClient, database: Database, org: OrgHandle, campaign: int
    ) -> None:
        [mine] = await make_messages(database, org_id=org.id, campaign_id=campaign,
                                     specs=[{"status": "sent", "wamid": "wamid.mine", "sent_at": SENT_AT}])
        before = (await message_states(database, [campaign]), await stats(database, campaign))
        raw = status_body([status("wamid.not-ours", "delivered", T0, callback="cmp=99;msg=1"),
                           status("wamid.not-ours-either", "failed", T0, code=131026)])
        assert (await post_signed(client, raw)).json() == {"received": 2, "new": 2}
        await drain(database)

        assert set((await outcomes(database)).values()) == {"unmatched"}
        assert await unapplied(database) == 0
        assert (await message_states(database, [campaign]), await stats(database, campaign)) == before

    async def test_a_status_for_an_unknown_message_resolves_it(
        self, client: httpx.AsyncClient, database: Database, org: OrgHandle, campaign: int
    ) -> None:
        """After a crash the reaper leaves the message `unknown` without a wamid; our id comes back."""
        [lost] = await make_messages(database, org_id=org.id, campaign_id=campaign, specs=[{"status": "unknown"}])
        assert (await stats(database, campaign))["unknown"] == 1
        raw = status_body([status("wamid.recovered", "sent", T0, callback=str(lost))])
        await post_signed(client, raw)
        await drain(database)

        row = await message(database, lost)
        assert (row.status, row.wamid, row.sent_at) == ("sent", "wamid.recovered", T0)
        counts = await stats(database, campaign)
        assert (counts["unknown"], counts["sent"]) == (0, 1)

    async def test_failed_131026_records_the_reason_and_releases_the_engagement(
        self, client: httpx.AsyncClient, database: Database, org: OrgHandle, campaign: int
    ) -> None:
        [ghost] = await make_messages(database, org_id=org.id, campaign_id=campaign,
                                      specs=[{"status": "sent", "wamid": "wamid.ghost", "sent_at": SENT_AT}])
        contact_id = (await message(database, ghost)).contact_id
        async with database.session() as session:
            session.add(Engagement(contact_id=contact_id, campaign_id=campaign))
        raw = status_body([status("wamid.ghost", "failed", T0 + timedelta(seconds=3), callback=str(ghost),
                                  code=131026)])
        await post_signed(client, raw)
        await drain(database)

        row = await message(database, ghost)
        assert (row.status, row.error_msg, row.error_code) == ("failed", "not a valid WhatsApp user", 131026)
        assert row.failed_at == T0 + timedelta(seconds=3)
        async with database.read_session() as session:
            assert await session.get(Engagement, contact_id) is None
        counts = await stats(database, campaign)
        assert (counts["sent"], counts["not_sent"]) == (0, 1)
        assert await not_sent_reasons(database, campaign) == {"not a valid WhatsApp user": 1}

    async def test_a_status_for_a_message_still_sending_waits_until_it_is_sent(
        self, client: httpx.AsyncClient, database: Database, org: OrgHandle, campaign: int
    ) -> None:
        lease = utcnow() + timedelta(minutes=1)
        [busy] = await make_messages(database, org_id=org.id, campaign_id=campaign,
                                     specs=[{"status": "sending", "lease_until": lease}])
        raw = status_body([status("wamid.fast", "delivered", T0 + timedelta(seconds=2), callback=str(busy))])
        await post_signed(client, raw)
        await drain(database)

        assert (await message(database, busy)).status == "sending"
        async with database.read_session() as session:
            event = (await session.execute(select(WebhookEvent))).scalar_one()
        assert (event.applied_at, event.outcome) == (None, None)
        assert event.not_before is not None

        async with database.session() as session:  # the sender records the accepted send
            await session.execute(update(CampaignMessage).where(CampaignMessage.id == busy).values(
                status="sent", wamid="wamid.fast", sent_at=T0, lease_until=None))
            await counters.add(session, campaign_id=campaign, pending=-1, sent=1)
        await settle(database)

        row = await message(database, busy)
        assert (row.status, row.sent_at, row.delivered_at) == ("delivered", T0, T0 + timedelta(seconds=2))
        counts = await stats(database, campaign)
        assert (counts["sent"], counts["received"], counts["pending"]) == (1, 1, 0)

    async def test_131049_while_the_campaign_runs_goes_back_for_a_retry(
        self, client: httpx.AsyncClient, database: Database, org: OrgHandle, campaign: int
    ) -> None:
        capped = await failed_with_131049(client, database, org, campaign, "wamid.capped")

        row = await message(database, capped)
        assert (row.status, row.wamid) == ("pending", None)
        assert row.next_attempt_at is not None and row.next_attempt_at > utcnow() + timedelta(hours=23)
        counts = await stats(database, campaign)
        assert (counts["pending"], counts["sent"], counts["not_sent"]) == (1, 0, 0)

    @pytest.mark.parametrize(("ttl_seconds", "retried"), [(43_200, False), (7 * 86_400, True)])
    async def test_131049_through_the_marketing_messages_api_is_not_retried_past_its_time_to_live(
        self, client: httpx.AsyncClient, database: Database, org: OrgHandle, campaign: int, ttl_seconds: int,
        retried: bool,
    ) -> None:
        """The number sends marketing templates through the Marketing Messages API with a time to live: a
        131049 the status webhook reports is retried in 24 h only if the message would still be worth
        delivering then (the campaign's own deadline is 7 days)."""
        async with database.session() as session:
            await session.execute(update(WhatsAppNumber).values(marketing_messages_api=True,
                                                                 marketing_messages_ttl_seconds=ttl_seconds))
        capped = await failed_with_131049(client, database, org, campaign, "wamid.ttl")

        row = await message(database, capped)
        counts = await stats(database, campaign)
        if retried:
            assert row.status == "pending" and row.next_attempt_at is not None
            assert (counts["pending"], counts["not_sent"]) == (1, 0)
        else:  # twelve hours to live: a try in 24 h would come too late
            assert (row.status, row.error_code, row.next_attempt_at) == ("failed", 131049, None)
            assert (counts["pending"], counts["not_sent"]) == (0, 1)


class TestFoldAcrossBatches:
    """The same statuses split over two applied batches, in either order, give the same times."""

    async def test_sent_at_of_an_unknown_message_does_not_depend_on_arrival(
        self, client: httpx.AsyncClient, database: Database, org: OrgHandle, campaign: int
    ) -> None:
        results = []
        for attempt, order in enumerate((("sent", "delivered"), ("delivered", "sent"))):
            [lost] = await make_messages(database, org_id=org.id, campaign_id=campaign, phone_offset=attempt,
                                         specs=[{"status": "unknown"}])
            at = {"sent": T0, "delivered": T0 + timedelta(seconds=5)}
            for kind in order:
                await post_signed(client, status_body([status(f"wamid.lost{attempt}", kind, at[kind],
                                                              callback=str(lost))]))
                await drain(database)
            row = await message(database, lost)
            results.append((row.status, row.sent_at, row.delivered_at))
        assert results[0] == results[1] == ("delivered", T0, T0 + timedelta(seconds=5))
