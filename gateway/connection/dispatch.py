"""Client ops, applied once for every transport: `ClientOps`.

The WebSocket edge hands it each text frame; the SSE edge each op posted to its HTTP
endpoint. An op's replies are `Outgoing` events queued on the connection in order, among
whatever else it is owed. A bad op is answered with an `error` event naming the field and
counts as one bad frame on the connection (which closes itself at the limit).

Ops beyond the core four (receipts' `ack` and `read`) are registered as extra handlers by
op type (a model, or the value a fast path of `parse_client_op` reads, as receipts'
`MarkedAck`), so this module knows nothing of them.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from gateway.auth import Denied, TokenVerifier
from gateway.connection.connection import Connection
from gateway.connection.grants import BadClaim, TopicGrant, topic_grant
from gateway.connection.ops import (
    PingOp,
    RefreshOp,
    SubscribeOp,
    UnsubscribeOp,
    client_op,
    parse_client_op,
)
from gateway.connection.outgoing import Outgoing
from gateway.log.base import READY
from gateway.models import Invalid
from gateway.service import NotificationService
from gateway.speedups import speedups

__all__ = [
    "BadOp",
    "ClientOps",
    "FirstReader",
    "OpHandler",
    "Received",
    "error",
    "first_then",
    "first_then_py",
    "verify",
]

#: Applies one op to a connection; returns the replies, raises `BadOp` for a refused op.
OpHandler = Callable[[Connection, Any], list[Outgoing]]
#: Offered each text frame before it is parsed (receipts' ack, most frames a client
#: sends, read in one call): True when it took the frame, False to have it parsed.
FirstReader = Callable[[Connection, str], bool]
#: Takes one text frame from a client (an op): `ClientOps.received`.
Received = Callable[[Connection, str], None]


def first_then_py(first: FirstReader, rest: Received) -> Received:
    """`ClientOps.received` with a first reader: `rest(conn, text)` unless `conn` is open
    and `first` took the frame. Compiled as `gateway._speedups.first_then` (firstthen.c):
    with receipts on most frames are acks, which the compiled first reader takes whole,
    and this function's Python frame was ~0.6k instructions of each."""

    def received(conn: Connection, text: str) -> None:
        if not conn.closed and first(conn, text):
            return
        rest(conn, text)

    return received


first_then: Callable[[FirstReader, Received], Received] = (
    first_then_py if speedups is None else speedups.first_then
)


class BadOp(Exception):
    """An op refused: answered with an `error` event and counted as a bad frame."""

    def __init__(self, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field


def error(code: str, message: str, field: str | None = None) -> Outgoing:
    """The `error` event (never quoting a token back)."""
    if field is None:
        return Outgoing.of("error", code=code, message=message)
    return Outgoing.of("error", code=code, field=field, message=message)


def verify(
    verifier: TokenVerifier, token: str | None, user_id: str, topics_required: bool
) -> tuple[float, TopicGrant | None]:
    """A token's expiry and topic grant if it lets `user_id` in; `Denied` otherwise."""
    claims: dict[str, Any] = verifier.claims(token, user_id)
    try:
        grant = topic_grant(claims, topics_required)
    except BadClaim as exc:
        raise Denied(401, f"invalid token: {exc}") from None
    return float(claims["exp"]), grant


async def _subscribed_when(conn: Connection, live: Awaitable[None], topic: str) -> None:
    """Queue `subscribed` once `live` completes, unless the topic was dropped meanwhile
    (its `unsubscribed` went out already: a late `subscribed` would contradict it). A
    shared log that could not take the topic now (Redis down: any error of its
    connection) takes it when it is back and catches up from its position first, so the
    topic is still followed: the reply goes out either way."""
    with contextlib.suppress(Exception):
        await live
    if topic in conn.topics:
        conn.send(Outgoing.of("subscribed", topic=topic))


class ClientOps:
    """subscribe, unsubscribe, refresh and ping, plus any registered extra ops."""

    #: One op as the client sent it (a text frame): offered to the `first` reader if there
    #: is one (`first_then`), else (or when it declines) `_parsed`.
    received: Received

    def __init__(
        self,
        service: NotificationService,
        verifier: TokenVerifier | None,
        *,
        max_topics: int,
        topics_required: bool = False,
        extra: Mapping[type[Any], OpHandler] | None = None,
        first: FirstReader | None = None,
    ) -> None:
        self._service = service
        self._verifier = verifier
        self._max_topics = max_topics
        self._topics_required = topics_required
        self._handlers: dict[type[Any], OpHandler] = {
            SubscribeOp: self._subscribe,
            UnsubscribeOp: self._unsubscribe,
            PingOp: self._ping,
            RefreshOp: self._refresh,
            **(extra or {}),
        }
        self.received = self._parsed if first is None else first_then(first, self._parsed)
        #: `subscribed` replies waiting for their topic to come live (kept referenced).
        self._waiting: set[asyncio.Future[None]] = set()

    def _parsed(self, conn: Connection, text: str) -> None:
        """One op as the client sent it: parsed, applied, its replies queued on `conn`."""
        self._answer(conn, parse_client_op, text)

    def received_value(self, conn: Connection, value: object) -> None:
        """One op already decoded from JSON (an item of an SSE ops post), as `received`."""
        self._answer(conn, client_op, value)

    def _answer(self, conn: Connection, parse: Callable[[Any], object], raw: object) -> None:
        if conn.closed:  # closing: nothing more is answered
            return
        bad = False
        try:
            replies = self.apply(conn, parse(raw))
        except Invalid as exc:
            replies, bad = [error("bad_frame", str(exc), exc.field)], True
        except BadOp as exc:
            replies, bad = [error(exc.code, exc.message, exc.field)], True
        for reply in replies:
            conn.send(reply)
        if bad:
            conn.bad_frame()

    def apply(self, conn: Connection, op: object) -> list[Outgoing]:
        """The replies to one parsed op; `BadOp` if it is refused."""
        handler = self._handlers.get(type(op))
        if handler is None:
            raise BadOp("bad_frame", f"op {type(op).__name__} is not served here", "op")
        return handler(conn, op)

    def _ping(self, conn: Connection, op: PingOp) -> list[Outgoing]:
        return [Outgoing.of("pong")]

    def _subscribe(self, conn: Connection, op: SubscribeOp) -> list[Outgoing]:
        topic = op.topic
        if topic not in conn.topics and len(conn.topics) >= self._max_topics:
            raise BadOp(
                "too_many_topics", f"topic: at most {self._max_topics} per connection", "topic"
            )
        if conn.grant is not None and not conn.grant.allows(topic):
            message = f"topic {topic!r} is not in the token's topics claim"
            raise BadOp("forbidden_topic", message, "topic")
        live = self._service.subscribe(conn, topic)
        if live is READY:
            return [Outgoing.of("subscribed", topic=topic)]
        # a shared log takes the topic one round trip later: `subscribed` waits for it, so
        # that whatever is published after the client reads it reaches the client
        waiting = asyncio.ensure_future(_subscribed_when(conn, live, topic))
        self._waiting.add(waiting)
        waiting.add_done_callback(self._waiting.discard)
        return []

    def _unsubscribe(self, conn: Connection, op: UnsubscribeOp) -> list[Outgoing]:
        self._service.unsubscribe(conn, op.topic)
        return [Outgoing.of("unsubscribed", topic=op.topic)]

    def _refresh(self, conn: Connection, op: RefreshOp) -> list[Outgoing]:
        """A fresh token: the 4001 timer moves to its `exp` and its topics claim applies.

        Followed topics the new claim does not allow are dropped, each with an
        `unsubscribed` event before `refreshed`. A bad token changes nothing.
        """
        if self._verifier is None:
            # Not counted as a bad frame: an SDK may refresh on a timer wherever it connects.
            message = "this gateway checks no tokens: there is nothing to refresh"
            return [error("auth_disabled", message, "op")]
        try:
            expiry, grant = verify(self._verifier, op.token, conn.user_id, self._topics_required)
        except Denied as exc:
            raise BadOp("bad_token", exc.reason, "token") from None
        conn.expire_at(expiry, grant)
        replies = []
        if grant is not None:
            for topic in sorted(conn.topics):
                if not grant.allows(topic):
                    self._service.unsubscribe(conn, topic)
                    replies.append(Outgoing.of("unsubscribed", topic=topic))
        replies.append(Outgoing.of("refreshed", expires_at=int(expiry)))
        return replies
