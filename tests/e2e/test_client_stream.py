"""How a PublishStream whose status grpc.aio lost learns each unanswered item's answer.

`_settle` runs only when grpc.aio replaced the gateway's status (grpc/grpc#36066), which
no test can bring about at will; these give it, against a real gateway, the unanswered
items such a stream can leave: one the stream published whose answer was lost, a bad
one, one the gateway never read. (The race itself: test_client_publisher's
test_a_bad_item_among_pipelined_ones_fails_it_and_every_later_caller.)
"""

from __future__ import annotations

import asyncio
from collections import deque

import grpc

from gateway.api.v1 import gateway_pb2 as pb
from gateway.app import Gateway
from gateway.client import AsyncPublisher, PublishError, publish_request
from gateway.client.stream import _Sent, _settle
from tests.support.gateway import Connect

LOST = PublishError(grpc.StatusCode.INTERNAL, "lost")


def _sent(item: int, request: pb.PublishRequest) -> _Sent:
    return _Sent(item, request, asyncio.get_running_loop().create_future())


async def test_a_published_item_answers_its_first_cursor_and_a_bad_one_stops_the_rest(
    gateway: Gateway, connect: Connect
) -> None:
    alice = await connect("alice")
    published = publish_request(users=["alice"], type="published", id="lost-answer")
    async with AsyncPublisher(f"127.0.0.1:{gateway.grpc_port}") as pub:
        first = await pub.send(published)  # as the stream did, before its answer was lost
        unanswered = deque(
            [
                _sent(3, published),
                _sent(4, publish_request(users=["alice"], type="Bad")),
                _sent(5, publish_request(users=["alice"], type="never.read")),
            ]
        )
        repeat, bad, later = unanswered
        error = await _settle(unanswered, pub.send, LOST)
    assert (repeat.future.result().cursor, repeat.future.result().delivered) == (first.cursor, 0)
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    assert error.message.startswith("item 4: notification.type:"), error.message
    assert list(unanswered) == [bad, later]  # the reader fails them with `error`
    assert not bad.future.done() and not later.future.done()
    assert (await alice.notification())["cursor"] == first.cursor
    await alice.nothing()  # neither the repeat nor the item after the bad one


async def test_items_never_read_are_published_in_order_and_the_status_stays_lost(
    gateway: Gateway, connect: Connect
) -> None:
    alice = await connect("alice")
    async with AsyncPublisher(f"127.0.0.1:{gateway.grpc_port}") as pub:
        unanswered = deque(
            _sent(n, publish_request(users=["alice"], type=f"unread.{n}")) for n in range(3)
        )
        items = list(unanswered)
        error = await _settle(unanswered, pub.send, LOST)
    assert error is LOST and not unanswered
    cursors = [item.future.result().cursor for item in items]
    got = [await alice.notification() for _ in items]
    assert [e["cursor"] for e in got] == cursors
    assert [e["notification"]["type"] for e in got] == ["unread.0", "unread.1", "unread.2"]
