"""Everything the simulated Meta remembers: clock, sends, limits, media, opt-outs and counters."""

from __future__ import annotations

import hashlib
import random
import secrets
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

from herald.simulator import account_events
from herald.simulator.limits import NumberLimits, Shards, portfolio_limit
from herald.simulator.media import MediaStore
from herald.simulator.scenario import PhoneNumber, Scenario, digits
from herald.simulator.templates import TemplateCatalog
from herald.simulator.webhooks import WebhookDispatcher

CUSTOMER_SERVICE_WINDOW_SECONDS = 86_400.0


@dataclass(slots=True)
class SentMessage:
    """One accepted send, as `GET /_sim/messages` shows it."""

    seq: int
    wamid: str
    phone_number_id: str
    to: str
    wa_id: str
    type: str
    time: float
    api_version: str
    # The Graph endpoint it was sent to: ``messages``, or ``marketing_messages`` (Meta's Marketing Messages
    # API, with the ``message_activity_sharing`` it was sent with, None when left out).
    endpoint: str = "messages"
    activity_sharing: bool | None = None
    template: str | None = None
    language: str | None = None
    category: str | None = None
    parameters: list[str] = field(default_factory=list)
    named_parameters: dict[str, str] = field(default_factory=dict)
    header: dict[str, Any] | None = None
    buttons: list[dict[str, Any]] = field(default_factory=list)
    biz_opaque_callback_data: str | None = None
    text: str | None = None
    user_id: str | None = None
    content: Any = None  # a free-form message's object (`image`, `interactive`, …; `contacts` is a list)
    statuses: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class SimState:
    def __init__(self, scenario: Scenario, webhook_url: str | None, app_secret: str):
        self.webhook_url = webhook_url
        self.app_secret = app_secret
        self.clock_offset = 0.0
        self.dispatcher = WebhookDispatcher(self)
        self.load(scenario)
        self.reset()

    def load(self, scenario: Scenario) -> None:
        """Apply a scenario; sends, media and counters are kept (see `reset`)."""
        self.scenario = scenario
        self.catalog = TemplateCatalog(scenario.templates)
        self.unreachable = {digits(p) for p in scenario.unreachable}
        self.marketing_capped = {digits(p) for p in scenario.marketing_capped}
        self.experiment = {digits(p) for p in scenario.experiment}
        self.scenario_stopped = {digits(p) for p in scenario.stopped}
        self.stopping = {digits(p) for p in scenario.stopping}
        self._numbers = {n.phone_number_id: n for n in scenario.phone_numbers}
        self._portfolio_limits: dict[str, int | None] = {}
        self.due_events = account_events.scheduled(scenario.template_events, scenario.number_events)
        self.rng = random.Random(scenario.seed)

    def reset(self) -> None:
        # Unique per run so that wamids never repeat across simulator restarts (Herald dedupes on them).
        self.run_id = secrets.token_hex(5).upper()
        self.rng = random.Random(self.scenario.seed)
        self.messages: list[SentMessage] = []
        self.limits: dict[str, NumberLimits] = {}
        self.portfolios: dict[str, NumberLimits] = {}  # by business portfolio: its messaging limit's count
        self.media = MediaStore()
        # Per recipient, like the number's limits (``Shards``): one entry per replying or BSUID recipient.
        self.last_inbound: Shards[tuple[str, str], float] = Shards()
        self.stopped_live: dict[str, bool] = {}  # wa_id -> stopped (True) / resumed (False)
        self.bsuids: Shards[str, str] = Shards()  # user_id -> wa_id
        # Inbound wamids the simulator emitted -> (phone_number_id, wa_id): what a client may mark read.
        self.inbound_ids: dict[str, tuple[str, str]] = {}
        self.marked_read = 0
        self.accepted = 0
        self.rejected: Counter[int] = Counter()
        self._counter = 0
        self.dispatcher.clear()
        self.due_events = account_events.scheduled(self.scenario.template_events, self.scenario.number_events)

    def now(self) -> float:
        """Simulator time: wall clock plus whatever `/_sim/clock` advanced."""
        return time.time() + self.clock_offset

    def at(self, wall: float | None) -> float:
        """Simulator time of a wall-clock moment (e.g. a request's arrival); now when unknown."""
        return self.now() if wall is None else wall + self.clock_offset

    def number(self, phone_number_id: str) -> PhoneNumber | None:
        return self._numbers.get(phone_number_id)

    def secret_for(self, phone_number_id: str) -> str:
        number = self._numbers.get(phone_number_id)
        return (number.app_secret if number and number.app_secret else None) or self.app_secret

    def limits_for(self, phone_number_id: str) -> NumberLimits:
        limits = self.limits.get(phone_number_id)
        if limits is None:
            limits = self.limits[phone_number_id] = NumberLimits()
        return limits

    def portfolio_limits_for(self, number: PhoneNumber) -> NumberLimits:
        key = self.scenario.portfolio_of(number)
        limits = self.portfolios.get(key)
        if limits is None:
            limits = self.portfolios[key] = NumberLimits()
        return limits

    def portfolio_limit(self, number: PhoneNumber) -> int | None:
        """The messaging limit of the number's business portfolio. Read for every template send and
        found by scanning every number of the scenario, so it is kept per portfolio: at a hundred
        numbers the scan was a twentieth of the simulator's time. ``load`` and ``tier_changed``
        forget it."""
        key = self.scenario.portfolio_of(number)
        if key not in self._portfolio_limits:
            self._portfolio_limits[key] = portfolio_limit(self.scenario.portfolio_tiers(key))
        return self._portfolio_limits[key]

    def tier_changed(self) -> None:
        """A number's messaging limit tier changed in place: its portfolio's limit is read again."""
        self._portfolio_limits.clear()

    def next_wamid(self, wa_id: str, *, inbound: bool = False) -> str:
        self._counter += 1
        tag = "EhgU" if inbound else "ERgS"
        return f"wamid.HBgM{wa_id}FQIA{tag}{self.run_id}{self._counter:010d}"

    def bsuid(self, wa_id: str) -> str:
        user_id = "US." + str(int(hashlib.sha256(wa_id.encode()).hexdigest()[:15], 16))
        self.bsuids[user_id] = wa_id
        return user_id

    def is_stopped(self, wa_id: str) -> bool:
        live = self.stopped_live.get(wa_id)
        return live if live is not None else wa_id in self.scenario_stopped

    def in_service_window(self, phone_number_id: str, wa_id: str) -> bool:
        last = self.last_inbound.get((phone_number_id, wa_id))
        return last is not None and self.now() - last < CUSTOMER_SERVICE_WINDOW_SECONDS

    def record(self, message: SentMessage) -> None:
        self.messages.append(message)
        self.accepted += 1
        if self.due_events:
            account_events.fire_due(self)

    def stats(self) -> dict[str, Any]:
        now = self.now()
        numbers = {}
        for number in self.scenario.phone_numbers:
            limits = self.limits_for(number.phone_number_id)
            numbers[number.phone_number_id] = {
                "unique_recipients_24h": limits.unique_recipients_24h(now),
                "portfolio_unique_recipients_24h": self.portfolio_limits_for(number).unique_recipients_24h(now),
                "messaging_limit_tier": number.messaging_limit_tier,
                "max_sends_per_second": limits.throughput.max_per_second,
                "throughput_mps": number.throughput_mps,
            }
        hooks = self.dispatcher.stats
        return {
            "accepted": self.accepted,
            "marked_read": self.marked_read,
            "rejected": {str(code): count for code, count in sorted(self.rejected.items())},
            "webhooks": {
                "posted": hooks.posts_ok, "failed": hooks.posts_failed,
                "pending": self.dispatcher.pending, "scheduled": self.dispatcher.scheduled,
                "updates_delivered": hooks.updates_delivered, "duplicates": hooks.duplicates_emitted,
                "last_error": hooks.last_error, "url": self.webhook_url,
            },
            "numbers": numbers,
            "clock_offset_seconds": self.clock_offset,
        }
