"""The in-memory log: cursors, retention, idempotency, ttl and replay ranges."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

import pytest

from gateway.log import AppendResult, Cursor, Draft, MemoryLog
from gateway.models import EveryoneTarget, TopicTarget
from tests.support.helpers import RecordingListener

EVERYONE = EveryoneTarget()


async def _one(log: MemoryLog, notification_id: str, ttl: timedelta | None = None) -> AppendResult:
    (result,) = await log.append([Draft(EVERYONE, notification_id, b"{}", ttl)])
    return result


async def _fill(log: MemoryLog, count: int, prefix: str = "n") -> list[str]:
    return [(await _one(log, f"{prefix}{i}")).cursor for i in range(count)]


def _at(text: str) -> Cursor:
    cursor = Cursor.parse(text)
    assert cursor is not None, text
    return cursor


async def test_append_follows_and_orders() -> None:
    log = MemoryLog()
    listener = RecordingListener(delivered=7)
    await log.start(listener)
    result = await _one(log, "id1")
    assert result.delivered == 7 and not result.duplicate
    assert [e.cursor for e in listener.entries] == [result.cursor]
    assert str(log.head()) == result.cursor
    cursors = await _fill(log, 20)
    assert cursors == sorted(cursors, key=lambda c: int(c.rsplit("-", 1)[1]))


async def test_duplicate_id_answers_the_first_cursor_and_does_not_deliver() -> None:
    log = MemoryLog()
    listener = RecordingListener()
    await log.start(listener)
    first = await _one(log, "same")
    again = await _one(log, "same")
    assert again.duplicate and again.cursor == first.cursor and again.delivered == 0
    assert len(listener.entries) == 1


async def test_read_since_range_and_completeness() -> None:
    log = MemoryLog(max_entries=5)
    start = log.head()
    cursors = await _fill(log, 8)
    replay = await log.read_since(_at(cursors[4]), log.head())
    assert [e.cursor for e in replay.entries] == cursors[5:] and replay.complete
    replay = await log.read_since(_at(cursors[4]), _at(cursors[6]))
    assert [e.cursor for e in replay.entries] == cursors[5:7]
    replay = await log.read_since(start, log.head())  # 3 were evicted after it
    assert [e.cursor for e in replay.entries] == cursors[3:] and not replay.complete
    replay = await log.read_since(_at(cursors[2]), log.head())  # exactly at the eviction edge
    assert replay.complete


async def test_the_idempotency_window_not_eviction_forgets_an_id() -> None:
    log = MemoryLog(max_entries=2, idempotency_seconds=0.2)
    first = await _one(log, "k")
    await _fill(log, 2)  # "k" is evicted from the history, not from the window
    again = await _one(log, "k")
    assert again.duplicate and again.cursor == first.cursor
    await asyncio.sleep(0.25)
    later = await _one(log, "k")
    assert not later.duplicate and later.cursor != first.cursor


async def test_a_reused_id_with_other_content_or_target_is_a_conflict() -> None:
    log = MemoryLog()
    (first,) = await log.append([Draft(EVERYONE, "k", b'{"a":1,"created_at":"x"}', None)])
    (retry,) = await log.append([Draft(EVERYONE, "k", b'{"a":1,"created_at":"y"}', None)])
    assert retry.duplicate and retry.cursor == first.cursor  # created_at refilled: the same
    (other,) = await log.append([Draft(EVERYONE, "k", b'{"a":2,"created_at":"x"}', None)])
    assert other.conflict and not other.duplicate and other.cursor == first.cursor
    to_topic = TopicTarget(topic="news")
    (moved,) = await log.append([Draft(to_topic, "k", b'{"a":1,"created_at":"x"}', None)])
    assert moved.conflict


async def test_ids_beyond_max_ids_are_forgotten_oldest_first() -> None:
    log = MemoryLog(max_ids=2)
    await _fill(log, 3)
    assert not (await _one(log, "n0")).duplicate
    assert (await _one(log, "n2")).duplicate


async def test_unknown_cursor_replays_everything_as_incomplete() -> None:
    log = MemoryLog()
    cursors = await _fill(log, 3)
    replay = await log.read_since(_at("0-2"), log.head())  # another process's epoch
    assert [e.cursor for e in replay.entries] == cursors and not replay.complete
    future = _at(str(log.head()).replace("-3", "-99"))
    replay = await log.read_since(future, log.head())
    assert [e.cursor for e in replay.entries] == cursors and not replay.complete


async def test_ttl_bounds_replay_and_age_bounds_retention(monkeypatch: pytest.MonkeyPatch) -> None:
    log = MemoryLog(max_age=60)
    start = log.head()
    await _one(log, "live-only", timedelta(0))
    await _one(log, "short", timedelta(seconds=5))
    await _one(log, "long")
    replay = await log.read_since(start, log.head())
    assert [e.notification_id for e in replay.entries] == ["short", "long"]
    now = time.time()
    monkeypatch.setattr(time, "time", lambda: now + 10)
    replay = await log.read_since(start, log.head())
    assert [e.notification_id for e in replay.entries] == ["long"] and replay.complete
    monkeypatch.setattr(time, "time", lambda: now + 61)
    replay = await log.read_since(start, log.head())
    assert replay.entries == [] and not replay.complete


def test_cursor_shape() -> None:
    log = MemoryLog()
    head = log.head()
    assert Cursor.parse(str(head)) == head
    for text in ("garbage", "-5", "a-b", "A-1", "a-1" + "0" * 20, "x" * 41 + "-1", "a-²"):
        assert Cursor.parse(text) is None, text
    redis_like = Cursor.parse("0badc0de.1700000000000-3")
    assert redis_like == Cursor("0badc0de", 1700000000000, 3)
    assert str(redis_like) == "0badc0de.1700000000000-3"
    assert Cursor.parse("a.b.c-5") == Cursor("a.b.c", None, 5)  # shaped, of no store here
    later = Cursor("0badc0de", 1700000000000, 4)
    assert later.after(redis_like) and not redis_like.after(later)
    assert not Cursor("other", 1700000000001, 0).after(redis_like)  # another store: unordered


async def test_a_batch_appends_in_order_and_catches_repeats_inside_it() -> None:
    log = MemoryLog()
    drafts = [Draft(EVERYONE, key, b"{}", None) for key in ["a", "b", "a", "c"]]
    results = await log.append(drafts)
    assert [r.duplicate for r in results] == [False, False, True, False]
    assert results[2].cursor == results[0].cursor
    assert [
        e.notification_id
        for e in (await log.read_since(Cursor(log.head().epoch, None, 0), log.head())).entries
    ] == ["a", "b", "c"]


async def test_an_entry_keeps_its_publishs_traceparent() -> None:
    log = MemoryLog()
    listener = RecordingListener()
    await log.start(listener)
    start = log.head()
    parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    await log.append([Draft(EVERYONE, "traced", b"{}", None, trace=parent)])
    await log.append([Draft(EVERYONE, "plain", b"{}", None)])
    assert [e.trace for e in listener.entries] == [parent, None]
    replay = await log.read_since(start, log.head())
    assert [e.trace for e in replay.entries] == [parent, None]
