"""The delivery-status state machine: order independence, no going back, counters and buckets."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from herald.campaigns.message_state import (
    RANK,
    MessageState,
    apply_reply,
    apply_status,
    bucket,
    counter_deltas,
)

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
BUCKETS = ("pending", "sent", "unknown", "not_sent")


@dataclass(frozen=True)
class Status:
    status: str
    at: datetime
    reason: str | None = None
    code: int | None = None


@dataclass(frozen=True)
class Reply:
    at: datetime


Event = Status | Reply

# Few distinct times, so ties and equal timestamps come up often.
times = st.integers(0, 5).map(lambda s: T0 + timedelta(minutes=s))
failures = st.sampled_from([("Message undeliverable", 131026), ("Re-engagement message", 131047)])
statuses = st.one_of(
    st.builds(Status, st.sampled_from(["sent", "delivered", "read", "played"]), times),
    st.builds(lambda at, f: Status("failed", at, f[0], f[1]), times, failures),
)
events = st.one_of(statuses, st.builds(Reply, times))


def start(status: str = "sent", sent_at: datetime | None = None) -> MessageState:
    return MessageState(status, sent_at, None, None, None, None, None, None)


starts = st.builds(start, st.sampled_from(["sent", "unknown"]), st.one_of(st.none(), times))


def step(state: MessageState, event: Event) -> MessageState:
    if isinstance(event, Reply):
        return apply_reply(state, event.at)
    return apply_status(state, event.status, event.at, reason=event.reason, code=event.code)


def fold(state: MessageState, stream: list[Event]) -> MessageState:
    for event in stream:
        state = step(state, event)
    return state


@st.composite
def stream_and_shuffle(draw: st.DrawFn, of: st.SearchStrategy[Event]) -> tuple[list[Event], list[Event]]:
    """Some events with duplicates, and the same multiset (plus more duplicates) in another order."""
    base = draw(st.lists(of, min_size=1, max_size=8))
    repeated = base + draw(st.lists(st.sampled_from(base), max_size=4))
    return base, draw(st.permutations(repeated))


def check_buckets(state: MessageState) -> None:
    counted = state.counted()
    assert sum(counted[b] for b in BUCKETS) == 1
    assert counted["received"] <= counted["sent"]
    assert counted["read"] <= counted["received"]
    assert counted["replied"] <= counted["received"]


class TestOrderIndependence:
    @settings(max_examples=200, deadline=None)
    @given(initial=starts, streams=stream_and_shuffle(statuses))
    def test_any_order_and_any_duplicates_of_statuses_end_in_the_same_state(
        self, initial: MessageState, streams: tuple[list[Event], list[Event]]
    ) -> None:
        ordered, shuffled = streams
        assert fold(initial, shuffled) == fold(initial, ordered)

    @settings(max_examples=200, deadline=None)
    @given(initial=starts, streams=stream_and_shuffle(events))
    def test_replies_mixed_with_statuses_end_in_the_same_state(
        self, initial: MessageState, streams: tuple[list[Event], list[Event]]
    ) -> None:
        ordered, shuffled = streams
        assert fold(initial, shuffled) == fold(initial, ordered)


class TestProgress:
    @settings(max_examples=200, deadline=None)
    @given(initial=starts, stream=st.lists(events, max_size=10))
    def test_statuses_never_move_backwards_and_failed_is_final(
        self, initial: MessageState, stream: list[Event]
    ) -> None:
        state = initial
        for event in stream:
            after = step(state, event)
            if state.status == "failed":
                assert after.status == "failed"
            elif after.status != "failed":
                assert RANK[after.status] >= RANK[state.status]
            for name in ("sent_at", "delivered_at", "read_at", "failed_at", "replied_at"):
                if getattr(state, name) is not None:
                    assert getattr(after, name) is not None
                    assert getattr(after, name) <= getattr(state, name)
            state = after

    @settings(max_examples=100, deadline=None)
    @given(stream=st.lists(events, max_size=10))
    def test_a_message_that_was_not_sent_never_moves(self, stream: list[Event]) -> None:
        initial = MessageState("not_sent", None, None, None, None, None, "contact opted out", None)
        assert fold(initial, stream) == initial


class TestCounters:
    @settings(max_examples=200, deadline=None)
    @given(initial=starts, stream=st.lists(events, max_size=12))
    def test_deltas_summed_along_any_path_equal_the_direct_delta(
        self, initial: MessageState, stream: list[Event]
    ) -> None:
        total: Counter[str] = Counter()
        state = initial
        for event in stream:
            after = step(state, event)
            total.update(counter_deltas(state, after))
            state = after
        assert {k: v for k, v in total.items() if v} == counter_deltas(initial, state)

    @settings(max_examples=200, deadline=None)
    @given(initial=starts, stream=st.lists(events, max_size=12))
    def test_every_state_on_the_way_keeps_the_bucket_invariants(
        self, initial: MessageState, stream: list[Event]
    ) -> None:
        state = initial
        check_buckets(state)
        for event in stream:
            state = step(state, event)
            check_buckets(state)
            assert state.counted()["sent"] == int(bucket(state.status) == "sent")

    @settings(max_examples=100, deadline=None)
    @given(streams=stream_and_shuffle(events))
    def test_counters_summed_over_many_messages_do_not_depend_on_arrival_order(
        self, streams: tuple[list[Event], list[Event]]
    ) -> None:
        ordered, shuffled = streams
        initial = start()
        assert counter_deltas(initial, fold(initial, ordered)) == counter_deltas(initial, fold(initial, shuffled))
