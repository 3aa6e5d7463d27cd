"""publish_many's compiled loops (gateway/csrc/drafts.c) against their twins (drafts.py).

`drafts_of` makes a common batch's Drafts or declines the batch (None); `tally` counts
the results. Hypothesis gives both the same batches and results, the common ones and
the ones to decline (a receipt deadline, an item over the size limit, a stranger), and
the service's outcomes are checked with the C on against the loop it short-cuts.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway import drafts
from gateway.drafts import drafts_of_py, tally_py
from gateway.log.base import AppendResult, Draft
from gateway.models import NotificationItem, PublishItem, Target, TopicTarget, UsersTarget
from gateway.speedups import FORCED_OFF
from tests.support.leaks import assert_no_leak

_PROPERTY = settings(max_examples=500, deadline=None, suppress_health_check=list(HealthCheck))

needs_c = pytest.mark.skipif(drafts._drafts_of is None, reason="gateway._publish is not built")

_AT = datetime(2026, 12, 6, 15, 0, 0, 123000, tzinfo=UTC)
_TARGETS: list[Target] = [UsersTarget(user_ids=("u1",)), TopicTarget(topic="news")]


def test_the_module_is_built_unless_turned_off() -> None:
    assert (drafts._drafts_of is None) == FORCED_OFF
    assert (drafts._tally is None) == FORCED_OFF


def _notification(title: str, deadline: timedelta | None, ttl: timedelta | None) -> Any:
    return NotificationItem("id-" + title[:3], "a.b", title, "", {"n": 1}, None, _AT, ttl, deadline)


_items = st.builds(
    PublishItem,
    st.sampled_from(_TARGETS),
    st.builds(
        _notification,
        st.text(max_size=40),
        st.one_of(st.none(), st.none(), st.just(timedelta(seconds=30))),
        st.one_of(st.none(), st.just(timedelta(seconds=9))),
    ),
)
_strangers = st.sampled_from(
    [("not", "an item"), PublishItem(_TARGETS[0], ("not", "a", "notification"))]  # type: ignore[arg-type]
)


@needs_c
@_PROPERTY
@given(
    st.lists(st.one_of(_items, _items, _items, _strangers), max_size=6),
    st.sampled_from([80, 140, 1 << 16]),
    st.sampled_from([None, "00-aa-bb-01"]),
)
def test_drafts_of_does_what_the_twin_does(
    items: list[Any], max_bytes: int, trace: str | None
) -> None:
    assert drafts._drafts_of is not None
    twin = drafts_of_py(items, max_bytes, trace)
    ours = drafts._drafts_of(items, max_bytes, trace)
    assert ours == twin
    if ours is not None:
        assert all(type(draft) is Draft for draft in ours)


_results = st.builds(AppendResult, st.just("c-1"), st.integers(0, 5), st.booleans(), st.booleans())


@needs_c
@_PROPERTY
@given(st.lists(_results, max_size=8))
def test_tally_does_what_the_twin_does(results: list[AppendResult]) -> None:
    assert drafts._tally is not None
    assert drafts._tally(results) == tally_py(results)


@needs_c
def test_tally_declines_results_of_another_shape() -> None:
    assert drafts._tally is not None
    assert drafts._tally([AppendResult("c", 1, 0, 0)]) is None  # type: ignore[arg-type]
    assert drafts._tally([("c", 1)]) is None  # type: ignore[list-item]
    assert drafts.tally([AppendResult("c", 1, 0, 0)]) == (1, 1, 0, 0)  # type: ignore[arg-type]


@needs_c
def test_the_loops_leak_nothing() -> None:
    assert drafts._drafts_of is not None and drafts._tally is not None
    drafts_of, tally = drafts._drafts_of, drafts._tally
    items = [PublishItem(_TARGETS[0], _notification("hello", None, None))] * 3
    declined = [*items, PublishItem(_TARGETS[1], _notification("late", timedelta(1), None))]
    results = [
        AppendResult("c-1", 1),
        AppendResult("c-2", 0, True),
        AppendResult("c-1", 0, False, True),
    ]

    def call() -> None:
        drafts_of(items, 1 << 16, None)
        drafts_of(declined, 1 << 16, "t")
        drafts_of(items, 10, None)
        tally(results)

    assert_no_leak(call, [*items, *declined, *results])


def _service(max_bytes: int) -> Any:
    import asyncio

    from gateway.flush import FlushScheduler
    from gateway.hub import Hub
    from gateway.log.memory import MemoryLog
    from gateway.service import NotificationService

    log = MemoryLog()
    log._epoch = "abc"
    service = NotificationService(
        log,
        Hub(),
        FlushScheduler(asyncio.new_event_loop()),
        max_notification_bytes=max_bytes,
        max_connections=10,
        max_connections_per_user=1,
    )
    return service


def _settle(coro: Any) -> Any:
    try:
        coro.send(None)
    except StopIteration as stop:
        return stop.value
    raise AssertionError("suspended")


@_PROPERTY
@given(st.lists(st.lists(_items, max_size=5), max_size=3), st.sampled_from([100, 1 << 16]))
def test_the_service_answers_what_its_own_loop_answers(
    batches: list[list[PublishItem]], max_bytes: int
) -> None:
    from gateway import service as service_module

    fast, slow = _service(max_bytes), _service(max_bytes)
    _settle(fast.start())
    _settle(slow.start())
    module: Any = service_module
    kept = module.drafts_of
    outcomes: list[Any] = [[], []]
    try:
        for batch in batches:
            outcomes[0].append(_settle(fast.publish_many(list(batch))))
            module.drafts_of = lambda *_: None  # the service's own loop
            outcomes[1].append(_settle(slow.publish_many(list(batch))))
            module.drafts_of = kept
    finally:
        module.drafts_of = kept

    def plain(outcome: Any) -> Any:
        return outcome if isinstance(outcome, AppendResult) else (type(outcome), str(outcome))

    assert [[plain(o) for o in b] for b in outcomes[0]] == [
        [plain(o) for o in b] for b in outcomes[1]
    ]
    for name in ("published", "delivered", "duplicates", "conflicts"):
        assert getattr(fast.metrics, name) == getattr(slow.metrics, name), name
