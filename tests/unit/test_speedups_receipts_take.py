"""Receipts' compiled ack taker and histogram observations (gateway/csrc/receipts_take.c,
receipts_observe.c) against their twins: `handlers._Handlers.ack_text` (with
`Receipts.ack`) and `tracker.observe_py`. Hypothesis runs sequences of acks on several
connections through both (the same answers, connection states, queue, counts and
wake-ups) and batches of observations (the same counts and sums, to the bit).
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.connection import dispatch
from gateway.connection.acks import AckWindow
from gateway.connection.dispatch import FirstReader, first_then_py
from gateway.metrics import DELIVERY_SECONDS_BUCKETS, Histogram, delivery_histogram
from gateway.models import UsersTarget
from gateway.receipts import handlers, tracker
from gateway.receipts.handlers import ack_reader
from gateway.receipts.marks import Mark
from gateway.receipts.memory import MemoryReceiptStore
from gateway.receipts.model import Tracked
from gateway.receipts.tracker import Receipts, observe_py
from gateway.speedups import FORCED_OFF, speedups
from tests.support.leaks import assert_no_leak

_PROPERTY = settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))

needs_c = pytest.mark.skipif(
    tracker.observe is observe_py, reason="gateway._receipts is not built (or turned off)"
)


def test_the_c_is_used_unless_turned_off() -> None:
    assert (tracker.observe is observe_py) == FORCED_OFF
    assert (dispatch.first_then is first_then_py) == FORCED_OFF
    reader = ack_reader(Receipts(MemoryReceiptStore(), max_age=60))
    assert (type(reader).__name__ == "method") == FORCED_OFF


# -- ack_taker: the SDKs' ack frame taken whole (handlers.ack_reader) ----------------------


class _Conn(AckWindow):
    """What the taker reads of a connection: its ack state, user and topics."""

    __slots__ = ("topics", "user_id")

    def __init__(self, user_id: str, after: Mark | None, sent: bytes | Mark | None) -> None:
        self.user_id, self.topics = user_id, frozenset({"t"} if user_id == "b" else ())
        self._acked, self._sent, self._unsent = after, sent, ()

    def state(self) -> tuple[object, ...]:
        return (self._acked, self._sent, self._unsent)


def _ack_frame(n: int) -> str:
    return '{"op":"ack","cursor":"e-' + str(n) + '"}'


_steps = st.lists(
    st.tuples(
        st.integers(0, 2),  # which connection
        st.integers(0, 9).map(_ack_frame)
        | st.sampled_from(['{"cursor":"e-3","op":"ack"}', '{"op":"ping"}', "x"]),
        st.integers(0, 9),  # what it was written last (a mark), before this step
        st.booleans(),  # a replay hole (then the Python handler takes it)
        st.sampled_from([None, "t", "u"]),  # a topic followed before this step (the hub's)
    ),
    max_size=12,
)


def _take_all(take: FirstReader, receipts: Receipts, steps: list[Any]) -> list[object]:
    conns = [_Conn("a", ("e", 0, 0), None), _Conn("a", ("e", 0, 2), None), _Conn("b", None, None)]
    seen: list[object] = []
    for which, text, written, hole, topic in steps:
        conn = conns[which]
        if topic is not None:  # as the hub does: a new frozenset (the taker's key is stale)
            conn.topics = conn.topics | {topic}
        conn._sent = ("e", 0, written)
        conn._unsent = (("e", 0, written),) if hole else ()
        seen.append(take(conn, text))
        seen.append((conn.state(), dict(receipts._acks), receipts.stats.acks_ignored))
        seen.append(receipts._woken)
        if len(receipts._acks) > 1 and written % 3 == 0:  # now and then the task applies
            receipts._acks, receipts._woken = {}, False
    return seen


@needs_c
@_PROPERTY
@given(_steps, st.integers(1, 3))
def test_the_c_ack_taker_does_what_the_python_handler_does(
    steps: list[Any], max_queued: int
) -> None:
    compiled, python = (
        Receipts(MemoryReceiptStore(), max_age=60, max_queued=max_queued) for _ in range(2)
    )
    taker = ack_reader(compiled)
    assert taker is not None and type(taker).__name__ == "builtin_function_or_method"
    twin = handlers._Handlers(python).ack_text
    assert _take_all(taker, compiled, steps) == _take_all(twin, python, steps)


@needs_c
def test_the_kept_key_follows_the_connection() -> None:
    """The taker keeps a connection's queue key on it: a topic followed since (the hub
    replaces `topics`), or a key left by another user's, is not reused."""
    steps = [
        (0, _ack_frame(1), 5, False, None),
        (0, _ack_frame(2), 5, False, "t"),
        (0, _ack_frame(3), 5, False, None),
        (0, _ack_frame(4), 5, False, "u"),
    ]
    compiled, python = (Receipts(MemoryReceiptStore(), max_age=60) for _ in range(2))
    taker = ack_reader(compiled)
    assert taker is not None
    seen = _take_all(taker, compiled, steps)
    assert seen == _take_all(handlers._Handlers(python).ack_text, python, steps)
    assert set(compiled._acks) == {
        ("a", frozenset()),
        ("a", frozenset({"t"})),
        ("a", frozenset({"t", "u"})),
    }
    conn = _Conn("b", ("e", 0, 0), ("e", 0, 5))
    conn._ack_key = ("a", conn.topics)  # not this connection's
    assert taker(conn, _ack_frame(1))  # type: ignore[arg-type]
    assert conn._ack_key == ("b", conn.topics) and ("b", conn.topics) in compiled._acks


class _Hiding(_Conn):
    """A connection class whose `topics` is a property over the base's slot: the taker
    must read what getattr reads (it takes a slot's offset only for a name its member
    descriptor serves), not the slot beneath."""

    __slots__ = ()

    @property  # type: ignore[override]  # (a read-only view over the slot, on purpose)
    def topics(self) -> frozenset[str]:
        return frozenset({"p"})


@needs_c
@_PROPERTY
@given(_steps)
def test_a_class_hiding_a_slot_is_read_as_python_reads_it(steps: list[Any]) -> None:
    def take_all(take: FirstReader, receipts: Receipts) -> list[object]:
        conn = _Hiding.__new__(_Hiding)
        conn.user_id, conn._acked, conn._sent, conn._unsent = "h", ("e", 0, 0), None, ()
        _Conn.topics.__set__(conn, frozenset({"the slot's"}))  # type: ignore[misc]
        seen: list[object] = []
        for _, text, written, _hole, _topic in steps:
            conn._sent = ("e", 0, written)
            seen.append((take(conn, text), conn.state(), dict(receipts._acks)))
        return seen

    compiled, python = (Receipts(MemoryReceiptStore(), max_age=60) for _ in range(2))
    taker = ack_reader(compiled)
    assert taker is not None
    assert take_all(taker, compiled) == take_all(handlers._Handlers(python).ack_text, python)


@needs_c
def test_the_ack_taker_leaks_nothing() -> None:
    receipts = Receipts(MemoryReceiptStore(), max_age=60)
    taker = ack_reader(receipts)
    assert taker is not None
    conn = _Conn("a", ("e", 0, 0), ("e", 0, 5))
    texts = [_ack_frame(n) for n in (1, 2, 2, 9)] + ['{"op":"ping"}']

    def take_some() -> None:
        conn._acked, conn._sent = ("e", 0, 0), ("e", 0, 5)
        for text in texts:
            taker(conn, text)  # type: ignore[arg-type]
        receipts._acks.clear()

    assert_no_leak(take_some, [conn, receipts, *texts])


# -- first_then: ClientOps.received with a first reader (the taker) ------------------------


class _Closable:
    __slots__ = ("closed",)

    def __init__(self, closed: object) -> None:
        self.closed = closed


@needs_c
@pytest.mark.parametrize("closed", [False, True, 0, 1, None])
@pytest.mark.parametrize("took", [True, False, 1, 0, None, ValueError("first")])
def test_first_then_does_what_its_twin_does(closed: object, took: object) -> None:
    def run(combine: Any) -> list[object]:
        calls: list[object] = []

        def first(conn: object, text: str) -> object:
            calls.append(("first", text))
            if isinstance(took, Exception):
                raise took
            return took

        def rest(conn: object, text: str) -> None:
            calls.append(("rest", text))

        try:
            calls.append(combine(first, rest)(_Closable(closed), "x"))
        except ValueError as exc:
            calls.append(exc)
        return calls

    assert speedups is not None
    assert run(speedups.first_then) == run(first_then_py)


@needs_c
def test_first_then_leaks_nothing() -> None:
    assert speedups is not None
    received = speedups.first_then(lambda conn, text: text == "a", lambda conn, text: None)
    conn = _Closable(False)
    assert_no_leak(lambda: (received(conn, "a"), received(conn, "b")), [conn, received])


# -- observe_delivery: the publish-to-ack histogram's observations of a batch --------------


def _histograms(published: list[tuple[float, str]], now: float, seed: Histogram | None) -> Any:
    made: dict[str, Histogram] = {}
    if seed is not None:
        made["known"] = seed

    def label_of(type_: str) -> Histogram:  # as Receipts._histogram: one per label
        label = type_ if len(made) < 2 else "other"
        return made.setdefault(label, delivery_histogram())

    return made, label_of


@needs_c
@_PROPERTY
@given(
    st.lists(
        st.tuples(
            st.floats(0, 2e9, allow_nan=False) | st.sampled_from([1e9, 1e9 + 0.05, 1e9 + 99]),
            st.sampled_from(["known", "a", "b", "c"]),
        ),
        max_size=20,
    ),
    st.sampled_from([1e9, 1e9 + 0.3, 2e9]),
)
def test_the_c_observations_are_the_twins(published: list[tuple[float, str]], now: float) -> None:
    made_c, label_c = _histograms(published, now, delivery_histogram())
    made_py, label_py = _histograms(published, now, delivery_histogram())
    tracker.observe(published, made_c, DELIVERY_SECONDS_BUCKETS, now, label_c)
    observe_py(published, made_py, DELIVERY_SECONDS_BUCKETS, now, label_py)
    assert {k: (h.counts, h.sum) for k, h in made_c.items()} == {
        k: (h.counts, h.sum) for k, h in made_py.items()
    }


@needs_c
def test_the_observations_leak_nothing() -> None:
    histogram = delivery_histogram()
    histograms = {"a": histogram}
    published = [(1e9, "a"), (1e9 + 0.02, "a"), (2e9, "a")]
    assert_no_leak(
        lambda: tracker.observe(
            published, histograms, DELIVERY_SECONDS_BUCKETS, 1e9 + 1, lambda t: histogram
        ),
        [histogram, published, histograms],
    )


@needs_c
def test_a_bad_pair_part_way_leaves_what_the_twin_leaves() -> None:
    """The C gathers a run's observations before writing them back: an error part-way
    still leaves the observations before it, as the twin does."""
    published: list[Any] = [(1e9, "a"), (1e9 + 0.02, "a"), (1e9, "b"), ("late", "c"), (1e9, "a")]
    states = []
    for observe in (tracker.observe, observe_py):
        made, label_of = _histograms(published, 1e9 + 1, delivery_histogram())
        with pytest.raises(TypeError):
            observe(published, made, DELIVERY_SECONDS_BUCKETS, 1e9 + 1, label_of)
        states.append({k: (h.counts, h.sum) for k, h in made.items()})
    assert states[0] == states[1]
    assert sum(sum(counts) for counts, _ in states[0].values()) == 3


@needs_c
@_PROPERTY
@given(
    st.lists(
        st.tuples(st.floats(0, 2e9, allow_nan=False), st.sampled_from(["known", "a", "b"])),
        max_size=20,
    ),
)
def test_the_c_observes_tracked_tuples_as_the_twin(published: list[tuple[float, str]]) -> None:
    """The memory store's `Applied.delivered`: the publish time and type read from each
    `Tracked` at the positions given."""
    target = UsersTarget(user_ids=("a",))
    tracked = [
        Tracked(f"n{i}", type_, "e-1", target, at, None) for i, (at, type_) in enumerate(published)
    ]
    made_c, label_c = _histograms(published, 1e9, delivery_histogram())
    made_py, label_py = _histograms(published, 1e9, delivery_histogram())
    tracker.observe(tracked, made_c, DELIVERY_SECONDS_BUCKETS, 1e9, label_c, 4, 1)
    observe_py(tracked, made_py, DELIVERY_SECONDS_BUCKETS, 1e9, label_py, 4, 1)
    pairs_py, pairs_label = _histograms(published, 1e9, delivery_histogram())
    observe_py(published, pairs_py, DELIVERY_SECONDS_BUCKETS, 1e9, pairs_label)
    states = [
        {k: (h.counts, h.sum) for k, h in made.items()} for made in (made_c, made_py, pairs_py)
    ]
    assert states[0] == states[1] == states[2]
