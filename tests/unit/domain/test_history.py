"""The one merge (``SeqMerge``, ``OrderHistories``): many keys' events from many topics,
folded strictly by seq."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from operator import attrgetter

import pytest
from given import cmd, create_order, given
from hypothesis import given as given_examples
from hypothesis import settings
from hypothesis import strategies as st

from streams.domain.commands import (
    RecordChannelStatus,
    RecordPicked,
    RecordShipped,
    RecordValidation,
)
from streams.domain.errors import UnknownOrder
from streams.domain.events import Event
from streams.domain.history import Arrival, OrderHistories, SeqMerge
from streams.domain.transitions import FULFILLMENT_IN_PROGRESS

# created, validated, picked, shipped (seq 1..4) of one order F&O took from the start
CREATED, VALIDATED, PICKED, SHIPPED = given(
    create_order("o-1", channel="fno"),
    cmd(RecordValidation, "o-1", policy="p", passed=True),
    cmd(RecordPicked, "o-1", provider="fno"),
    cmd(RecordShipped, "o-1", provider="fno", tracking_number="1Z"),
).events


def deliver(*events: Event) -> OrderHistories:
    h = OrderHistories()
    for event in events:
        h.add(event)
    return h


def test_shipped_read_before_picked_waits_for_it() -> None:
    h = deliver(CREATED, VALIDATED, SHIPPED)
    assert h.states["o-1"].version == 2
    assert (h.held, h.held_orders()) == (1, {"o-1": [4]})

    h.add(PICKED)
    state = h.states["o-1"]
    assert (state.version, state.status, state.status_reason) == (
        4,
        FULFILLMENT_IN_PROGRESS,
        "Packed",
    )
    assert (h.held, h.held_orders(), h.duplicates) == (0, {}, 0)


def test_on_applied_sees_every_event_once_in_seq_order() -> None:
    seen: list[int] = []
    h = OrderHistories(on_applied=lambda e, s, _: seen.append(e.envelope.seq))
    for event in (SHIPPED, VALIDATED, CREATED, PICKED, CREATED, SHIPPED):
        h.add(event)
    assert seen == [1, 2, 3, 4]
    assert h.duplicates == 2


def test_a_gap_that_never_fills_is_reported() -> None:
    h = deliver(CREATED, PICKED, SHIPPED)
    assert h.states["o-1"].version == 1
    assert h.held_orders() == {"o-1": [3, 4]}
    assert (h.held_seqs("o-1"), h.held_seqs("o-2")) == ([3, 4], [])


def test_an_event_for_an_order_never_created_is_refused_by_the_fold() -> None:
    first_of_other = given(
        create_order("o-2"), cmd(RecordChannelStatus, "o-2", channel="bc", channel_status="x")
    ).events[1]
    orphan = first_of_other.model_copy(
        update={"envelope": first_of_other.envelope.model_copy(update={"seq": 1})}
    )
    with pytest.raises(UnknownOrder, match="order o-2: cannot fold 'Channel status updated'"):
        deliver(orphan)


def test_a_duplicate_counts_once_when_the_original_was_applied() -> None:
    h = deliver(CREATED, VALIDATED, PICKED, PICKED)
    assert h.duplicates == 1


def test_a_second_copy_of_an_early_arrival_counts_as_a_duplicate() -> None:
    h = deliver(CREATED, VALIDATED, SHIPPED, SHIPPED, PICKED)
    assert (h.states["o-1"].version, h.held) == (4, 0)
    assert h.duplicates == 1


# --- SeqMerge, the one merge every reader folds through ------------------------------------


@dataclass(frozen=True)
class Envelope:
    key: str
    seq: int


@dataclass(frozen=True)
class Record:
    """A toy event: the topic it was written to is its only payload."""

    envelope: Envelope
    topic: str


@dataclass(frozen=True)
class Trail:
    """A toy state: the seqs folded, in the order they were folded."""

    seqs: tuple[int, ...]

    @property
    def version(self) -> int:
        return len(self.seqs)


def follow(state: Trail | None, record: Record) -> Trail:
    return Trail((*(state.seqs if state else ()), record.envelope.seq))


@st.composite
def appended(draw: st.DrawFn) -> list[Record]:
    """What a writer appends: per key seq 1, 2, 3... each to some topic, keys interleaved."""
    keys = draw(st.lists(st.sampled_from("abcde"), max_size=60))
    seqs: Counter[str] = Counter()
    out = []
    for key in keys:
        seqs[key] += 1
        out.append(Record(Envelope(key, seqs[key]), draw(st.sampled_from(("created", "picked", "shipped")))))
    return out


@st.composite
def interleaved(draw: st.DrawFn, records: list[Record]) -> list[Record]:
    """The per-topic streams, each in its own order, interleaved in any way; maybe one topic
    read again from an earlier offset (a consumer restart)."""
    streams: dict[str, list[Record]] = {}
    for r in records:
        streams.setdefault(r.topic, []).append(r)
    positions = dict.fromkeys(streams, 0)
    out: list[Record] = []
    while any(positions[t] < len(s) for t, s in streams.items()):
        topic = draw(st.sampled_from(sorted(t for t, s in streams.items() if positions[t] < len(s))))
        out.append(streams[topic][positions[topic]])
        positions[topic] += 1
        if draw(st.integers(0, 20)) == 0:
            positions[topic] = draw(st.integers(0, positions[topic]))
    return out


def merged(records: list[Record]) -> tuple[SeqMerge[Record, Trail], dict[str, list[tuple[int, object]]]]:
    seen: dict[str, list[tuple[int, object]]] = {}

    def applied(record: Record, state: Trail, origin: object) -> None:
        seen.setdefault(record.envelope.key, []).append((record.envelope.seq, origin))

    merge: SeqMerge[Record, Trail] = SeqMerge(follow, attrgetter("key"), on_applied=applied)
    for i, record in enumerate(records):
        merge.add(record, origin=(record.topic, i))
    return merge, seen


@settings(max_examples=300, deadline=None)
@given_examples(st.data())
def test_any_interleaving_of_the_topics_gives_each_key_its_history_in_seq_order(data: st.DataObject) -> None:
    records = data.draw(appended(), label="appended")
    delivered = data.draw(interleaved(records), label="delivered")

    merge, seen = merged(delivered)

    expected = {key: tuple(range(1, n + 1)) for key, n in Counter(r.envelope.key for r in records).items()}
    assert {key: state.seqs for key, state in merge.states.items()} == expected
    assert merge.held == 0
    assert merge.duplicates == len(delivered) - len(records)
    for key, applied in seen.items():
        assert [seq for seq, _ in applied] == list(expected[key])
        for seq, (topic, i) in applied:  # type: ignore[misc]
            assert delivered[i] == Record(Envelope(key, seq), topic)  # its own origin came back


def test_add_says_what_it_did() -> None:
    merge: SeqMerge[Record, Trail] = SeqMerge(follow, attrgetter("key"))
    first, second, third = (Record(Envelope("k", s), "t") for s in (1, 2, 3))

    assert [merge.add(r) for r in (third, first, third, second, first)] == [
        Arrival.HELD,
        Arrival.APPLIED,
        Arrival.DUPLICATE,
        Arrival.APPLIED,
        Arrival.DUPLICATE,
    ]
    assert merge.states["k"].seqs == (1, 2, 3)
