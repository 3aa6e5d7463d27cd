"""The memory log's compiled append loop (gateway/csrc/memlog.c) against its twin.

`MemoryLog.append_py` is the reference. Hypothesis runs the same batches through both on
two logs made alike (small bounds, so ids are forgotten and entries evicted; few ids, so
duplicates and conflicts come often; a listener that may raise part-way) and checks the
same results, or the same exception, and the same state left on the log.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.log import memory
from gateway.log.base import AppendResult, Draft, Entry
from gateway.log.memory import MemoryLog
from gateway.models import EveryoneTarget, Target, TopicTarget, UsersTarget
from gateway.speedups import FORCED_OFF
from tests.support.leaks import assert_no_leak

_PROPERTY = settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))

needs_c = pytest.mark.skipif(memory._append is None, reason="gateway._publish is not built")


def test_the_module_is_built_unless_turned_off() -> None:
    assert (memory._append is None) == FORCED_OFF


_TARGETS: list[Target] = [
    UsersTarget(user_ids=("u1",)),
    UsersTarget(user_ids=("u2", "u1")),
    TopicTarget(topic="news"),
    EveryoneTarget(),
]
_BODIES = [b'{"id":"a","data":{}}', b'{"id":"a","data":{"n":1}},"created_at":"x"}', b"{}"]

_drafts = st.builds(
    Draft,
    st.sampled_from(_TARGETS),
    st.sampled_from(["a", "b", "c", "d", "e", "f"]),
    st.sampled_from(_BODIES),
    st.one_of(st.none(), st.sampled_from([timedelta(seconds=5), timedelta(0)])),
    st.one_of(st.none(), st.just(12.5)),
    st.one_of(st.none(), st.just("00-aa-bb-01")),
)


class Listener:
    """Records what it is handed; raises on its `fail_at`-th call (if given)."""

    def __init__(self, log: MemoryLog, fail_at: int | None) -> None:
        self.log = log
        self.fail_at = fail_at
        self.seen: list[tuple[Entry, int]] = []

    def deliver(self, entry: Entry) -> int:
        self.seen.append((entry, self.log._seq))  # head() must be current here
        if self.fail_at is not None and len(self.seen) == self.fail_at:
            raise RuntimeError("the listener failed")
        return len(self.seen) % 3


def _log(max_entries: int, max_ids: int) -> MemoryLog:
    log = MemoryLog(max_entries=max_entries, max_ids=max_ids)
    log._epoch = "18f2c3a"
    log._seq = 40
    return log


def _state(log: MemoryLog) -> Any:
    return (
        dict(log._by_id),
        list(log._by_id),
        list(log._entries),
        list(log._id_expiry),
        log._seq,
        log._evicted_through,
    )


def _run(log: MemoryLog, batches: list[list[Draft]], fail_at: int | None, compiled: bool) -> Any:
    listener = Listener(log, fail_at)
    outcomes: list[Any] = []
    for i, batch in enumerate(batches):
        now = 1000.0 + i
        try:
            if compiled:
                assert memory._append is not None
                outcomes.append(memory._append(log, batch, now, listener.deliver))
            else:
                outcomes.append(log.append_py(batch, now, listener.deliver))
        except RuntimeError as exc:
            outcomes.append(("raised", str(exc)))
    return outcomes, listener.seen, _state(log)


@needs_c
@_PROPERTY
@given(
    st.lists(st.lists(_drafts, max_size=8), min_size=1, max_size=4),
    st.integers(1, 6),
    st.integers(1, 6),
    st.one_of(st.none(), st.integers(1, 12)),
)
def test_the_compiled_loop_does_what_the_twin_does(
    batches: list[list[Draft]], max_entries: int, max_ids: int, fail_at: int | None
) -> None:
    twin = _run(_log(max_entries, max_ids), batches, fail_at, compiled=False)
    ours = _run(_log(max_entries, max_ids), batches, fail_at, compiled=True)
    assert ours == twin
    for outcome in ours[0]:
        if isinstance(outcome, list):
            assert all(type(result) is AppendResult for result in outcome)
    assert all(type(entry) is Entry for entry, _ in ours[1])


@needs_c
def test_what_it_declines_the_twin_appends() -> None:
    assert memory._append is not None
    log = _log(10, 10)
    stranger: list[Any] = [Draft(_TARGETS[0], "a", b"{}", None), ("not", "a", "draft")]
    assert memory._append(log, stranger, 1.0, len) is None
    assert memory._append(log, [Draft(_TARGETS[0], "a", b"{}", None)], 1, len) is None
    assert _state(log) == _state(_log(10, 10))  # nothing changed


@needs_c
def test_append_leaks_nothing() -> None:
    assert memory._append is not None
    append = memory._append
    drafts = [
        Draft(_TARGETS[0], "a", _BODIES[0], timedelta(seconds=1)),
        Draft(_TARGETS[2], "b", _BODIES[1], None, 3.0, "t"),
        Draft(_TARGETS[0], "a", _BODIES[1], None),  # a conflict
    ]

    def call() -> None:
        log = _log(2, 1)  # a fresh log each time: its state goes with it
        append(log, drafts + drafts, 5.0, len)  # evicted, forgotten, a duplicate

    assert_no_leak(call, [*drafts, *_TARGETS, *_BODIES], rounds=2000)
