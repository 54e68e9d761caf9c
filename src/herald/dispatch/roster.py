"""What a worker's senders re-read about their numbers and campaigns, read once for all of them.

Each sender refreshes what it knows about its number (credentials, throughput) and its active
campaigns (template, header media, send window, frequency cap, rate card, budget, variants) about
twice a second, so that a pause, a resume or a changed pace takes effect within half a second.
Read by each sender on its own, that was five queries per number per refresh: 100 numbers made
1,000 queries a second, and on SQLite the claims and the takeoff queued behind them. The ``Roster``
reads it for every number the worker holds in one read transaction of a fixed number of queries
(numbers, campaigns, their portfolios, the organizations' caps and cards, the variants' own templates), at most once per
``max_age``; a sender asking for a view older than that starts the next read, or waits for the one
under way (one read at a time), and every sender asking meanwhile shares it.

A campaign paused, ended, resumed or started through the API of the process the worker runs in
(``herald serve`` with its embedded worker) need not wait for ``max_age``: ``changed`` makes the next
view a read that starts after it, and the senders refresh at their next turn rather than at the end
of their refresh period (``Sender._run``; ``Worker.campaigns_changed`` has already stopped a paused
or ended campaign's sends by then).

Decrypting an access token costs about as much as a query: credentials are kept while the number's
stored ciphertext is unchanged.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from herald.campaigns import frequency_cap
from herald.campaigns.frequency_cap import FrequencyCap
from herald.campaigns.lifecycle import Status
from herald.dispatch.context import VariantRender, variant_renders
from herald.dispatch.database_loop import DatabaseWork
from herald.dispatch.marketing_messages import MarketingMessages, of_number
from herald.kit.crypto import SecretBox
from herald.kit.db import Database
from herald.models import Campaign, Media, Template, WhatsAppNumber
from herald.models.whatsapp_number import DEFAULT_THROUGHPUT_MPS
from herald.numbers.messaging_limit import Portfolio, portfolios_of_numbers
from herald.numbers.service import credentials_of
from herald.pricing import rates
from herald.pricing.card import RateCard
from herald.whatsapp import NumberCredentials

CampaignRow = tuple[Campaign, Template | None, Media | None]


@dataclass
class NumberView:
    """One number as its sender needs it: ``None`` from ``Roster.view`` when the number is gone."""

    number: WhatsAppNumber  # as read (detached)
    throughput: int
    # Its active campaigns, in id order, with their template and header media.
    campaigns: list[CampaignRow]
    # By organization of those campaigns: the frequency cap (absent: none) and the rate card.
    caps: dict[int, FrequencyCap]
    cards: dict[int, RateCard]
    # By campaign with A/B variants: how each variant renders.
    variants: dict[int, list[VariantRender]] = field(default_factory=dict)
    # The number's portfolio and its messaging limit (from all the portfolio's numbers' tiers).
    portfolio: Portfolio | None = None
    # Its Marketing Messages API settings; None when it sends marketing templates to ``/messages``.
    marketing: MarketingMessages | None = None
    # Decrypted from ``number`` by the roster.
    creds: NumberCredentials | None = None


@dataclass
class _Snapshot:
    read_at: float
    numbers: frozenset[int]
    views: dict[int, NumberView]


class Roster:
    """The shared read (see the module's docstring). Senders ``join`` with their number, ``leave``
    when they stop, and ask for their number's ``view``."""

    def __init__(self, database_work: DatabaseWork, box: SecretBox, *, max_age: float) -> None:
        self.database_work = database_work
        self.box = box
        self.max_age = max_age
        self._numbers: set[int] = set()
        self._snapshot = _Snapshot(-float("inf"), frozenset(), {})
        self._reading: asyncio.Task[_Snapshot] | None = None
        # When ``changed`` was last called: a view is read after it.
        self.changed_at = -float("inf")
        # By number: what its credentials were decrypted from (the stored columns), and them.
        self._credentials: dict[int, tuple[tuple[object, ...], NumberCredentials]] = {}

    def join(self, number_id: int) -> None:
        self._numbers.add(number_id)

    def leave(self, number_id: int) -> None:
        self._numbers.discard(number_id)

    def changed(self) -> None:
        """What the senders read changed (a campaign's status, committed): the next view is read after
        this call."""
        self.changed_at = time.monotonic()

    async def view(self, number_id: int, *, fresh: bool = False) -> NumberView | None:
        """The number's view, read at most ``max_age`` ago and after the last ``changed`` (``fresh``:
        read after this call)."""
        self.join(number_id)
        snapshot = self._snapshot
        if fresh or number_id not in snapshot.numbers:  # a read that starts now, which includes it
            snapshot = await self._read(after=time.monotonic())
        elif snapshot.read_at < self.changed_at:  # a read that started after the change
            snapshot = await self._read(after=self.changed_at)
        elif time.monotonic() - snapshot.read_at > self.max_age:  # the read under way will do
            snapshot = await self._read(after=None)
        return snapshot.views.get(number_id)

    async def _read(self, *, after: float | None) -> _Snapshot:
        """The read under way if it started after ``after`` (any, when None), else a new one."""
        while True:
            if self._reading is None:
                self._reading = asyncio.create_task(self._read_all())
                self._reading.add_done_callback(self._done)
            # Shielded: a sender stopping while it waits must not cancel everyone's read.
            snapshot = await asyncio.shield(self._reading)
            if after is None or snapshot.read_at >= after:
                return snapshot

    def _done(self, task: asyncio.Task[_Snapshot]) -> None:
        if self._reading is task:
            self._reading = None
        if not task.cancelled() and task.exception() is None:
            self._snapshot = task.result()

    async def _read_all(self) -> _Snapshot:
        read_at = time.monotonic()
        numbers = frozenset(self._numbers)
        # On the worker's database loop under ``herald worker`` (not queued behind the batches: senders
        # wait on it); the credentials are decrypted here, once per changed token.
        views = await self.database_work.now(_read_views, sorted(numbers)) if numbers else {}
        for view in views.values():
            view.creds = self._credentials_of(view.number)
        return _Snapshot(read_at, numbers, views)

    def _credentials_of(self, number: WhatsAppNumber) -> NumberCredentials:
        key = (number.access_token_enc, number.phone_number_id, number.waba_id, number.graph_api_base,
               number.graph_api_version)
        cached = self._credentials.get(number.id)
        if cached is None or cached[0] != key:
            cached = self._credentials[number.id] = (key, credentials_of(self.box, number))
        return cached[1]


async def _read_views(database: Database, number_ids: list[int]) -> dict[int, NumberView]:
    """The numbers' views in one read transaction (their credentials left to the roster)."""
    async with database.read_session() as session:
        return await _views(session, number_ids)


async def _views(session: AsyncSession, number_ids: list[int]) -> dict[int, NumberView]:
    found = (await session.execute(select(WhatsAppNumber).where(WhatsAppNumber.id.in_(number_ids)))).scalars()
    numbers = {number.id: number for number in found}
    rows = await session.execute(
        select(Campaign, Template, Media)
        .join(WhatsAppNumber, WhatsAppNumber.id == Campaign.whatsapp_number_id)
        .outerjoin(
            Template,
            (Template.org_id == Campaign.org_id)
            & (Template.waba_id == WhatsAppNumber.waba_id)
            & (Template.name == Campaign.template_name)
            & (Template.language == Campaign.template_language),
        )
        .outerjoin(Media, Media.id == Campaign.header_media_id)
        .where(Campaign.whatsapp_number_id.in_(number_ids), Campaign.status == Status.active)
        .order_by(Campaign.id)
    )
    by_number: dict[int, list[CampaignRow]] = {number_id: [] for number_id in numbers}
    for campaign, template, media in rows:
        if campaign.whatsapp_number_id in by_number:
            by_number[campaign.whatsapp_number_id].append((campaign, template, media))
    org_ids = {campaign.org_id for campaigns in by_number.values() for campaign, _, _ in campaigns}
    portfolios = await portfolios_of_numbers(session, number_ids)
    caps = await frequency_cap.caps_of(session, org_ids)
    cards = await rates.cards_of(session, org_ids)
    marketing = {number_id: of_number(number) for number_id, number in numbers.items()}
    variants = {
        campaign.id: await variant_renders(session, campaign, template, media, marketing[number_id])
        for number_id, campaigns in by_number.items() for campaign, template, media in campaigns
        if campaign.variants
    }
    views: dict[int, NumberView] = {}
    for number_id, number in numbers.items():
        campaigns = by_number.get(number_id, [])
        orgs = {campaign.org_id for campaign, _, _ in campaigns}
        views[number_id] = NumberView(
            number=number,
            throughput=number.throughput_mps or DEFAULT_THROUGHPUT_MPS,
            campaigns=campaigns,
            caps={org: cap for org, cap in caps.items() if org in orgs},
            cards={org: card for org, card in cards.items() if org in orgs},
            variants={campaign.id: variants[campaign.id] for campaign, _, _ in campaigns if campaign.id in variants},
            portfolio=portfolios.get(number_id),
            marketing=marketing[number_id],
        )
    return views
