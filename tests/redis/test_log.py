"""The Redis log on its own, against a real redis-server: round trips, keys, windows."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import aiohttp
import pytest

from gateway.log import Cursor, Draft
from gateway.log.address import EVERYONE as TO_EVERYONE
from gateway.log.address import topic, user
from gateway.log.redis import RedisLog
from gateway.models import EveryoneTarget, TopicTarget, UsersTarget
from tests.support.gateway import StartGateway
from tests.support.helpers import RecordingListener
from tests.support.redis_helpers import RedisServer
from tests.support.waiting import until

EVERYONE = EveryoneTarget()


def _draft(notification_id: str, body: bytes = b'{"a":1}', **kw: object) -> Draft:
    target = kw.get("target", EVERYONE)
    ttl = kw.get("ttl")
    trace = kw.get("trace")
    return Draft(target, notification_id, body, ttl, trace=trace)  # type: ignore[arg-type]


@pytest.fixture
def listener() -> RecordingListener:
    return RecordingListener()


def _at(text: str) -> Cursor:
    cursor = Cursor.parse(text)
    assert cursor is not None, text
    return cursor


@pytest.fixture
async def redis_log(
    redis_server: RedisServer, listener: RecordingListener
) -> AsyncIterator[RedisLog]:
    log = RedisLog(redis_server.url, prefix="t", idempotency_seconds=1)
    await log.start(listener)
    for _ in range(200):
        if log.healthy:
            break
        await asyncio.sleep(0.01)
    yield log
    await log.close()


def _calls(server: RedisServer, command: str) -> int:
    for line in server.command("INFO", "commandstats").splitlines():
        if line.startswith(f"cmdstat_{command}:"):
            return int(line.split("calls=")[1].split(",")[0])
    return 0


async def test_a_batch_of_500_is_one_round_trip_and_followed_in_order(
    redis_log: RedisLog, redis_server: RedisServer, listener: RecordingListener
) -> None:
    seen = listener.entries
    await redis_log.watch([user("x")])  # only what the replica holds comes to it
    await redis_log.append([_draft("warm-up", target=UsersTarget(user_ids=("x",)))])
    scripts_before = _calls(redis_server, "evalsha") + _calls(redis_server, "eval")
    trips_before = redis_log.stats.round_trip_seconds.count
    drafts = [_draft(f"n{i}", target=UsersTarget(user_ids=(f"u{i}", "x"))) for i in range(500)]
    results = await redis_log.append(drafts)
    assert redis_log.stats.round_trip_seconds.count - trips_before == 1
    assert _calls(redis_server, "evalsha") + _calls(redis_server, "eval") - scripts_before == 1
    assert [r.delivered for r in results] == [1] * 500  # waited for its own follower
    assert [e.cursor for e in seen[1:]] == [r.cursor for r in results]
    assert all(str(Cursor.parse(r.cursor)) == r.cursor for r in results)
    assert seen[1].target == UsersTarget(user_ids=("u0", "x"))
    assert str(redis_log.head()) == results[-1].cursor


async def test_an_entry_keeps_its_publishs_traceparent(
    redis_log: RedisLog, listener: RecordingListener
) -> None:
    """Stream field `p`: delivered live and replayed with the entry, absent as None."""
    await redis_log.watch([TO_EVERYONE])
    start = redis_log.head()
    parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    await redis_log.append([_draft("traced", trace=parent), _draft("plain")])
    assert [e.trace for e in listener.entries[-2:]] == [parent, None]
    replay = await redis_log.read_since(start, redis_log.head())
    assert [e.trace for e in replay.entries] == [parent, None]


async def test_the_idempotency_window_is_its_own_setting(redis_log: RedisLog) -> None:
    (first,) = await redis_log.append([_draft("k")])
    (again,) = await redis_log.append([_draft("k")])
    assert again.duplicate and again.cursor == first.cursor
    (other,) = await redis_log.append([_draft("k", target=TopicTarget(topic="news"))])
    assert other.conflict and other.cursor == first.cursor
    await asyncio.sleep(1.2)  # idempotency_seconds=1; the history keeps the entry
    (later,) = await redis_log.append([_draft("k")])
    assert not later.duplicate and later.cursor != first.cursor
    await redis_log.watch([])  # the head moves past what this replica was not sent
    replay = await redis_log.read_since(_at(first.cursor), redis_log.head())
    assert [e.cursor for e in replay.entries] == [later.cursor] and replay.complete


async def test_replay_drops_expired_ttl_and_a_foreign_epoch_is_incomplete(
    redis_log: RedisLog,
) -> None:
    start = redis_log.head()
    _short, kept = await redis_log.append(
        [_draft("short", ttl=timedelta(seconds=0)), _draft("kept")]
    )
    await redis_log.watch([])
    replay = await redis_log.read_since(start, redis_log.head())
    assert [e.cursor for e in replay.entries] == [kept.cursor] and replay.complete
    foreign = Cursor("0badc0de", _at(kept.cursor).ms, _at(kept.cursor).n)
    replay = await redis_log.read_since(foreign, redis_log.head())
    assert not replay.complete and kept.cursor in [e.cursor for e in replay.entries]


async def test_metrics_show_the_backend(
    start_gateway: StartGateway, redis_server: RedisServer, http: aiohttp.ClientSession
) -> None:
    gateway = await start_gateway(backend=redis_server.url)
    for _ in range(200):
        if gateway.log.healthy:
            break
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.1)
    async with http.get(f"http://127.0.0.1:{gateway.http_port}/metrics") as response:
        text = await response.text()
    for line in (
        "gateway_backend_up 1.0",
        'gateway_backend_round_trip_seconds_bucket{le="+Inf"}',
        "gateway_backend_errors_total 0.0",
        "gateway_backend_follower_lag_seconds",
        "gateway_backend_follower_lag_entries",
        "gateway_backend_replicas",
    ):
        assert line in text, line


async def test_a_replica_receives_only_what_it_holds_and_head_passes_the_rest(
    redis_log: RedisLog, redis_server: RedisServer, listener: RecordingListener
) -> None:
    await redis_log.watch([user("alice"), topic("news")])
    results = await redis_log.append(
        [
            _draft("a", target=UsersTarget(user_ids=("alice",))),
            _draft("b", target=UsersTarget(user_ids=("bob",))),
            _draft("n", target=TopicTarget(topic="news")),
            _draft("s", target=TopicTarget(topic="sport")),
            _draft("e"),
            _draft("ab", target=UsersTarget(user_ids=("bob", "alice", "alice"))),
        ]
    )
    assert [r.delivered for r in results] == [1, 0, 1, 0, 0, 1]
    assert [e.notification_id for e in listener.entries] == ["a", "n", "ab"]  # once each
    assert redis_log.stats.unaddressed == 0
    assert int(redis_server.command("PUBSUB", "NUMSUB", "t:u:bob").split()[1]) == 0
    await redis_log.watch([TO_EVERYONE])  # a barrier: the head passes what it skipped
    assert str(redis_log.head()) == results[-1].cursor
    assert redis_log.stats.subscriptions == 3


async def test_an_address_released_lingers_then_is_unsubscribed(
    redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    import gateway.log.redis_feed as feed

    monkeypatch.setattr(feed, "LINGER", 0.0)
    log = RedisLog(redis_server.url, prefix="t")
    await log.start(RecordingListener())
    try:
        await until(lambda: log.healthy, 10)
        await log.watch([user("carol")])
        log.unwatch([user("carol")])
        assert redis_server.command("PUBSUB", "NUMSUB", "t:u:carol").split()[1] == "1"

        def unsubscribed() -> bool:
            return redis_server.command("PUBSUB", "NUMSUB", "t:u:carol").split()[1] == "0"

        await until(unsubscribed, 10, "the released address stayed subscribed")  # next tick
        assert log.stats.subscriptions == 0
    finally:
        await log.close()
