"""The WebSocket edge: refuse bad requests early, register, apply client ops, close.

Connections arrive as `WebSocketProtocol`s (protocol.py), which own the bytes: the
handshake, frame parsing and the close handshake. The edge holds the policy: admission
(params, subprotocol, origin, token, topic grant, limits), the upgrade with its welcome and
replay queued in the same write as the 101 response, client ops (token refresh included),
pings, and who is closed with which code. Outgoing frames go through each connection's
`Session`, so the fan-out never awaits.

Tokens: a browser offers `notifications.v1` plus `bearer.<jwt>` in `Sec-WebSocket-Protocol`
(it cannot set headers, and a URL lands in proxy logs); `Authorization: Bearer` and
`?token=` still work, in that order of precedence. The 101 selects `notifications.v1` and
never echoes the bearer entry. No token is ever logged or quoted back.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from gateway.auth import Denied, TokenVerifier, bearer_token, check_origin
from gateway.closecodes import CloseCode
from gateway.flush import FlushScheduler
from gateway.hub import Connection
from gateway.log.base import BackendUnavailable
from gateway.log.cursor import Cursor
from gateway.models import Invalid
from gateway.service import NotificationService
from gateway.session import Session
from gateway.websocket.client_ops import (
    ConnectParams,
    PingOp,
    RefreshOp,
    SubscribeOp,
    parse_client_op,
    parse_connect,
    split_query,
)
from gateway.websocket.frames import BINARY, PING, PONG, Message
from gateway.websocket.grants import BadClaim, ForbiddenTopic, TopicGrant, topic_grant
from gateway.websocket.handshake import (
    BadHandshake,
    RequestHead,
    accept_key,
    offered_subprotocols,
    switching_protocols,
)
from gateway.websocket.heartbeat import Heartbeat
from gateway.websocket.protocol import PendingHeads, WebSocketProtocol
from gateway.wire import encode_event, pong_frame

__all__ = ["SUBPROTOCOL", "WebSocketEdge"]

log = logging.getLogger("gateway.ws")

#: Bad client frames tolerated on one connection before it is closed with 1008.
MAX_BAD_FRAMES = 10
#: The one subprotocol spoken here. Browsers may offer `bearer.<jwt>` beside it.
SUBPROTOCOL = "notifications.v1"
_BEARER = "bearer."


@dataclass(frozen=True, slots=True)
class _Admitted:
    """What admission learned: the params, the subprotocol to select, the token's terms."""

    params: ConnectParams
    #: The client's `since`, parsed (None without one).
    since: Cursor | None
    subprotocol: str | None
    expiry: float | None
    grant: TopicGrant | None


@dataclass
class WebSocketEdge:
    """The connection policy: who is admitted, what their ops do, who is closed and why."""

    service: NotificationService
    scheduler: FlushScheduler
    verifier: TokenVerifier | None
    allowed_origins: frozenset[str] | None
    send_buffer_bytes: int
    max_frame_bytes: int
    max_topics: int
    heartbeat: float
    #: With JWT on, whether a token without a `topics` claim is refused (else: any topic).
    topics_required: bool = False
    #: Connections that may be sending their request head at once (the oldest is shed).
    max_pending_handshakes: int = 1024
    sockets: dict[Connection, WebSocketProtocol] = field(default_factory=dict)
    _bad_frames: dict[Connection, int] = field(default_factory=dict)
    _replays: set[asyncio.Task[None]] = field(default_factory=set)
    _heartbeat: Heartbeat | None = None
    _all_closed: asyncio.Event | None = None

    def __post_init__(self) -> None:
        self.service.closer = self.close
        self.service.on_fan_out = self.scheduler.published

    def protocol_factory(
        self, handoff: Callable[[], asyncio.Protocol]
    ) -> Callable[[], WebSocketProtocol]:
        """What the HTTP listener makes for each connection; `handoff` makes aiohttp's."""
        pending = PendingHeads(self.max_pending_handshakes, self.service.metrics)
        return lambda: WebSocketProtocol(self, handoff, self.max_frame_bytes, pending)

    def start_heartbeat(self) -> None:
        """Ping every socket each `heartbeat` seconds; drop those that did not answer."""
        self._heartbeat = Heartbeat(self.sockets, self.heartbeat)
        self._heartbeat.start()

    def open(self, conn: WebSocketProtocol, head: RequestHead) -> None:
        """Admit and upgrade a `/ws` request, or refuse it with an HTTP status and a reason.

        Admission comes first, so a plain GET learns what is wrong with its parameters.
        The 101 response, the welcome and any replay leave in one write at the tick's end.
        """
        try:
            admitted = self._admit(head)
            accept = accept_key(head.headers)
        except Invalid as exc:
            self._refuse(conn, 400, "invalid_request", str(exc), exc.field)
            return
        except ForbiddenTopic as exc:
            message = f"topic {exc.topic!r} is not in the token's topics claim"
            self._refuse(conn, 403, "forbidden_topic", message, "topics")
            return
        except Denied as exc:
            self._refuse(conn, exc.status, _DENIED_ERRORS.get(exc.status, "refused"), exc.reason)
            return
        except BadHandshake as exc:
            self._refuse(conn, exc.status, exc.error, exc.message)
            return
        params = admitted.params
        session = Session(
            params.user_id,
            params.topics,
            conn.transport,
            self.scheduler,
            self.send_buffer_bytes,
            self._too_slow,
        )
        conn.accept(session)
        self.sockets[session] = conn
        self.service.metrics.connections_opened += 1
        conn.grant = admitted.grant
        if admitted.expiry is not None:
            self._expire_at(conn, session, admitted.expiry)
        session.held = True  # live frames wait until the welcome and replay are in front
        response = switching_protocols(accept, admitted.subprotocol)
        # on the memory log this runs to its end here, as before (attach never suspends)
        _start_eagerly(self._resume(session, response, admitted.since), self._replays)

    async def _resume(self, session: Session, response: bytes, since: Cursor | None) -> None:
        try:
            until = await self.service.attach(session)
        except BackendUnavailable as exc:
            log.warning("attach failed: %s", exc, extra={"user_id": session.user_id})
            session.send_first([response])
            self.close(session, CloseCode.TRY_AGAIN_LATER, "backend unreachable: retry")
            return
        if session.closed:
            self.service.detach(session)
            return
        first = [response, self._welcome(session, until)]
        if since is None:
            session.send_first(first)
            return
        try:
            resumed, frames = await self.service.replay(session, since, until)
        except BackendUnavailable as exc:
            # the 101 and welcome go out first: a close frame may only follow them
            log.warning("replay failed: %s", exc, extra={"user_id": session.user_id})
            session.send_first(first)
            self.close(session, CloseCode.TRY_AGAIN_LATER, "backend unreachable: retry with since")
            return
        except Exception:
            log.exception("replay failed", extra={"user_id": session.user_id})
            session.abort()
            return
        session.send_first([*first, resumed], frames)

    def _expire_at(self, conn: WebSocketProtocol, session: Session, expiry: float) -> None:
        """(Re)arm the connection's 4001 close for when its token expires."""
        if conn.expiry is not None:
            conn.expiry.cancel()
        conn.expiry = asyncio.get_running_loop().call_later(
            max(0.0, expiry - time.time()),
            self.close,
            session,
            CloseCode.TOKEN_EXPIRED,
            "token expired",
        )

    def _welcome(self, session: Session, cursor: Cursor) -> bytes:
        return encode_event(
            "welcome",
            user_id=session.user_id,
            topics=sorted(session.topics),
            cursor=str(cursor),
            heartbeat=self.heartbeat,
        )

    def _refuse(
        self,
        conn: WebSocketProtocol,
        status: int,
        error: str,
        message: str,
        field: str | None = None,
    ) -> None:
        self.service.metrics.refused(status)
        body = {"error": error, "message": message}
        if field is not None:
            body["field"] = field
        conn.refuse(status, body)

    def release(self, conn: WebSocketProtocol) -> None:
        """The connection has ended: out of the hub, its timer cancelled, forgotten."""
        session = conn.session
        if conn.expiry is not None:
            conn.expiry.cancel()
        if session is None:
            return
        self.service.detach(session)
        session.close()
        self.sockets.pop(session, None)
        self._bad_frames.pop(session, None)
        if not self.sockets and self._all_closed is not None:
            self._all_closed.set()

    def _admit(self, head: RequestHead) -> _Admitted:
        """Everything checked before the upgrade: params, subprotocol, origin, token, topics
        and limits."""
        params = parse_connect(split_query(head.query), self.max_topics)
        subprotocol, bearer = _choose_subprotocol(offered_subprotocols(head.headers))
        check_origin(head.headers.get("origin"), self.allowed_origins)
        expiry = grant = None
        if self.verifier is not None:
            token = bearer
            if token is None:
                token = bearer_token(head.headers.get("authorization", "")) or params.token
            expiry, grant = self._verify(self.verifier, token, params.user_id)
            forbidden = None if grant is None else grant.first_refused(params.topics)
            if forbidden is not None:
                raise ForbiddenTopic(forbidden)
        since = None if params.since is None else Cursor.parse(params.since)
        if params.since is not None and since is None:
            raise Invalid("since", "not a cursor from this gateway")
        refused = self.service.admit(params.user_id)
        if refused is not None:
            raise Denied(refused.status, refused.reason)
        return _Admitted(params, since, subprotocol, expiry, grant)

    def _verify(
        self, verifier: TokenVerifier, token: str | None, user_id: str
    ) -> tuple[float, TopicGrant | None]:
        """The token's expiry and topic grant if it lets `user_id` in; else `Denied`."""
        claims: dict[str, Any] = verifier.claims(token, user_id)
        try:
            grant = topic_grant(claims, self.topics_required)
        except BadClaim as exc:
            raise Denied(401, f"invalid token: {exc}") from None
        return float(claims["exp"]), grant

    def received(self, conn: WebSocketProtocol, message: Message) -> None:
        """One client message: an op answered in order with the frames it is queued among."""
        session = conn.session
        if session is None or session.closed:  # closing: nothing more is answered
            return
        session.heard = True
        opcode = message.opcode
        if opcode == PONG:
            return
        if opcode == PING:
            reply, ok = pong_frame(message.data), True
        elif opcode == BINARY:
            reply, ok = _error("bad_frame", "binary frames are not supported", "frame"), False
        else:
            reply, ok = self._apply(conn, session, message.text)
        session.send(reply)
        if not ok:
            self.service.metrics.bad_client_frames += 1
            bad = self._bad_frames[session] = self._bad_frames.get(session, 0) + 1
            if bad >= MAX_BAD_FRAMES:
                self.close(session, CloseCode.POLICY_VIOLATION, "too many bad frames")

    def _apply(self, conn: WebSocketProtocol, session: Session, text: str) -> tuple[bytes, bool]:
        """The reply to one client frame, and whether the frame was acceptable."""
        try:
            op = parse_client_op(text)
        except Invalid as exc:
            return _error("bad_frame", str(exc), exc.field), False
        if isinstance(op, PingOp):
            return encode_event("pong"), True
        if isinstance(op, RefreshOp):
            return self._refresh(conn, session, op.token)
        if isinstance(op, SubscribeOp):
            if op.topic not in session.topics and len(session.topics) >= self.max_topics:
                message = f"topic: at most {self.max_topics} per connection"
                return _error("too_many_topics", message, "topic"), False
            if conn.grant is not None and not conn.grant.allows(op.topic):
                message = f"topic {op.topic!r} is not in the token's topics claim"
                return _error("forbidden_topic", message, "topic"), False
            self.service.subscribe(session, op.topic)
            return encode_event("subscribed", topic=op.topic), True
        self.service.unsubscribe(session, op.topic)
        return encode_event("unsubscribed", topic=op.topic), True

    def _refresh(self, conn: WebSocketProtocol, session: Session, token: str) -> tuple[bytes, bool]:
        """A fresh token: the 4001 timer moves to its `exp` and its topics claim applies.

        Followed topics the new claim does not allow are dropped, each with an
        `unsubscribed` event before `refreshed`. A bad token changes nothing.
        """
        if self.verifier is None:
            # Not counted as a bad frame: an SDK may refresh on a timer wherever it connects.
            message = "this gateway checks no tokens: there is nothing to refresh"
            return _error("auth_disabled", message, "op"), True
        try:
            expiry, grant = self._verify(self.verifier, token, session.user_id)
        except Denied as exc:
            return _error("bad_token", exc.reason, "token"), False
        self._expire_at(conn, session, expiry)
        conn.grant = grant
        if grant is not None:
            for topic in sorted(session.topics):
                if not grant.allows(topic):
                    self.service.unsubscribe(session, topic)
                    session.send(encode_event("unsubscribed", topic=topic))
        return encode_event("refreshed", expires_at=int(expiry)), True

    def close(self, conn: Connection, code: int, reason: str) -> None:
        """Close one connection from the server side (disconnect, expiry, overflow, drain).

        It leaves the hub at once (presence stops counting it); the socket is forgotten
        when TCP closes, after the client's answer or the close timeout.
        """
        protocol = self.sockets.get(conn)
        if protocol is not None:
            self.service.detach(conn)
            protocol.close(code, reason)

    def _too_slow(self, session: Session) -> None:
        self.service.metrics.slow_clients_closed += 1
        log.warning(
            "closing a slow client: send buffer over %d bytes",
            self.send_buffer_bytes,
            extra={"user_id": session.user_id, "close_code": int(CloseCode.TOO_SLOW)},
        )
        self.close(session, CloseCode.TOO_SLOW, "too slow: send buffer overflow")

    async def close_all(self, code: int, reason: str, within: float) -> None:
        """Close every connection; wait up to `within` seconds for the close handshakes.

        Connections whose client has not answered by then are dropped.
        """
        if self._heartbeat is not None:
            self._heartbeat.stop()
        self.scheduler.flush()
        for conn in list(self.sockets):
            self.close(conn, code, reason)
        if self.sockets and within > 0:
            self._all_closed = asyncio.Event()
            try:
                async with asyncio.timeout(within):
                    await self._all_closed.wait()
            except TimeoutError:
                pass
        for session in list(self.sockets):
            if isinstance(session, Session):
                session.abort()


_DENIED_ERRORS = {
    401: "unauthorized",
    403: "forbidden",
    429: "too_many_connections",
    503: "unavailable",
}


def _choose_subprotocol(offered: list[str]) -> tuple[str | None, str | None]:
    """The subprotocol to select for a client's offer, and the bearer token it carries.

    Offering nothing is fine (no subprotocol); offering any, `notifications.v1` among them.
    """
    if not offered:
        return None, None
    if SUBPROTOCOL not in offered:
        message = f"the supported subprotocol is {SUBPROTOCOL}: offer it (with bearer.<jwt>)"
        raise BadHandshake(400, "unsupported_subprotocol", message)
    tokens = [name[len(_BEARER) :] for name in offered if name.startswith(_BEARER)]
    if len(tokens) > 1:
        raise BadHandshake(400, "bad_handshake", "offer at most one bearer.<jwt> subprotocol")
    return SUBPROTOCOL, tokens[0] if tokens else None


def _error(code: str, message: str, field: str | None = None) -> bytes:
    if field is None:
        return encode_event("error", code=code, message=message)
    return encode_event("error", code=code, field=field, message=message)


def _start_eagerly(coro: Coroutine[Any, Any, None], tasks: set[asyncio.Task[None]]) -> None:
    """Run `coro` now, on the caller's stack; only if it suspends, a task finishes it."""
    try:
        blocked = coro.send(None)
    except StopIteration:
        return
    except Exception:
        log.exception("a connection's start failed")
        return
    task = asyncio.ensure_future(_finish(coro, blocked))
    tasks.add(task)
    task.add_done_callback(tasks.discard)


async def _finish(coro: Coroutine[Any, Any, None], blocked: Any) -> None:
    """Drive the rest of a coroutine that suspended on `blocked` (what asyncio's Task does)."""
    while True:
        try:
            if blocked is None:
                await asyncio.sleep(0)
            else:
                blocked._asyncio_future_blocking = False
                await asyncio.wait([blocked])
        except asyncio.CancelledError as exc:
            try:
                blocked = coro.throw(exc)
            except (StopIteration, asyncio.CancelledError):
                return
            continue
        try:
            blocked = coro.send(None)
        except StopIteration:
            return
        except Exception:
            log.exception("a connection's start failed")
            return
