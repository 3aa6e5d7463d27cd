"""The WebSocket edge (aiohttp): refuse bad requests early, attach, read client ops.

Outgoing frames never go through `WebSocketResponse.send_*`: each connection gets a
`Session` on its raw transport, so the fan-out queues bytes without awaiting. aiohttp
still owns the handshake, reading and the close handshake; pings are ours (heartbeat.py),
so `_read_ops` notes every frame heard and answers the peer's pings itself.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import TypeAlias
from urllib.parse import parse_qsl

from aiohttp import WSMsgType, web

from gateway.auth import Denied, TokenVerifier, bearer_token, check_origin
from gateway.client_ops import ConnectParams, PingOp, SubscribeOp, parse_client_op, parse_connect
from gateway.closecodes import CloseCode
from gateway.heartbeat import Heartbeat
from gateway.hub import Connection
from gateway.metrics import render
from gateway.models import Invalid
from gateway.service import NotificationService
from gateway.session import FlushScheduler, Session
from gateway.wire import encode_event, pong_frame

__all__ = ["WebSocketEdge"]

log = logging.getLogger("gateway.ws")

#: Bad client frames tolerated on one connection before it is closed with 1008.
MAX_BAD_FRAMES = 10
#: How long a server-side close waits for the client's close frame before dropping it.
CLOSE_TIMEOUT = 5.0

#: An upgraded, attached connection: its socket, its session, its token-expiry timer.
_Opened: TypeAlias = tuple[web.WebSocketResponse, Session, asyncio.TimerHandle | None]


@dataclass
class WebSocketEdge:
    """The aiohttp routes and the state they share; `routes()` mounts them on an app."""

    service: NotificationService
    scheduler: FlushScheduler
    verifier: TokenVerifier | None
    allowed_origins: frozenset[str] | None
    send_buffer_bytes: int
    max_frame_bytes: int
    max_topics: int
    heartbeat: float
    sockets: dict[Connection, web.WebSocketResponse] = field(default_factory=dict)
    _tasks: set[asyncio.Task[object]] = field(default_factory=set)
    _heartbeat: Heartbeat | None = None

    def __post_init__(self) -> None:
        self.service.closer = self.close

    def start_heartbeat(self) -> None:
        """Ping every socket each `heartbeat` seconds; drop those that did not answer."""
        self._heartbeat = Heartbeat(self.sockets, self.heartbeat)
        self._heartbeat.start()

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/ws", self.handle),
            web.get("/healthz", self.healthz),
            web.get("/readyz", self.readyz),
            web.get("/metrics", self.metrics),
        ]

    async def metrics(self, request: web.Request) -> web.Response:
        gauges = {
            "connections": ("open WebSocket connections", float(len(self.service.hub))),
            "ready": ("1 while accepting work, 0 while draining", float(self.service.accepting)),
        }
        return web.Response(
            text=render(self.service.metrics, gauges), content_type="text/plain", charset="utf-8"
        )

    async def healthz(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def readyz(self, request: web.Request) -> web.Response:
        if self.service.accepting:
            return web.json_response({"status": "ready"})
        return web.json_response({"status": "draining"}, status=503)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """One `/ws` request: `_open` admits, upgrades and attaches; then ops until it closes.

        Only the socket, the session and the expiry timer stay referenced by this frame
        during the read loop: what admission and attach built (the query, the params, the
        replay, the welcome frame) is freed before it, which counts at 20,000 idle sockets.
        """
        opened = await self._open(request)
        if isinstance(opened, web.StreamResponse):
            return opened
        ws, session, expiry_timer = opened
        try:
            await self._read_ops(ws, session)
        finally:
            self._release(session, expiry_timer)
        return ws

    async def _open(self, request: web.Request) -> web.StreamResponse | _Opened:
        """Refuse (an HTTP response), or upgrade and attach (the socket, its session, timer)."""
        try:
            params, expiry = self._admit(request)
        except Invalid as exc:
            self.service.metrics.refused(400)
            return _refuse(400, "invalid_request", str(exc), exc.field)
        except Denied as exc:
            self.service.metrics.refused(exc.status)
            return _refuse(exc.status, _DENIED_ERRORS.get(exc.status, "refused"), exc.reason)
        ws = web.WebSocketResponse(
            autoping=False,  # pings answered and pongs noted by `_read_ops` (the heartbeat)
            max_msg_size=self.max_frame_bytes,
            compress=False,
            timeout=CLOSE_TIMEOUT,
        )
        try:
            await ws.prepare(request)
        except web.HTTPException as exc:  # no valid handshake: raised before anything is sent
            if request.headers.get("Upgrade", "").lower() != "websocket":
                return _refuse(426, "upgrade_required", "connect with a WebSocket upgrade")
            return _refuse(400, "bad_handshake", exc.text or "invalid WebSocket handshake")
        transport = request.transport
        if transport is None:  # the peer left during the handshake
            return ws
        session = Session(
            params.user_id,
            params.topics,
            transport,
            self.scheduler,
            self.send_buffer_bytes,
            self._too_slow,
        )
        self.sockets[session] = ws
        self.service.metrics.connections_opened += 1
        expiry_timer = None
        if expiry is not None:
            expiry_timer = asyncio.get_running_loop().call_later(
                max(0.0, expiry - time.time()),
                self.close,
                session,
                CloseCode.TOKEN_EXPIRED,
                "token expired",
            )
        try:
            session.held = True  # live frames wait until welcome and replay are in front
            attached = await self.service.attach(session, params.since)
            welcome = encode_event(
                "welcome",
                user_id=session.user_id,
                topics=sorted(session.topics),
                cursor=attached.cursor,
                heartbeat=self.heartbeat,
            )
            session.send_first([welcome, *attached.frames])
        except BaseException:
            self._release(session, expiry_timer)
            raise
        return ws, session, expiry_timer

    def _release(self, session: Session, expiry_timer: asyncio.TimerHandle | None) -> None:
        if expiry_timer is not None:
            expiry_timer.cancel()
        self.service.detach(session)
        session.close()
        ws = self.sockets.pop(session, None)
        if ws is not None:
            _drop_tracebacks(ws.exception())

    def _admit(self, request: web.Request) -> tuple[ConnectParams, float | None]:
        """Everything checked before the upgrade: params, origin, token, limits.

        Returns the params and when the token expires (None without auth).
        """
        params = parse_connect(_query(request), self.max_topics)
        check_origin(request.headers.get("Origin"), self.allowed_origins)
        expiry = None
        if self.verifier is not None:
            expiry = self.verifier.verify(_token(request, params), params.user_id)
        if params.since is not None and not self.service.log.is_cursor(params.since):
            raise Invalid("since", "not a cursor from this gateway")
        refused = self.service.admit(params.user_id)
        if refused is not None:
            raise Denied(refused.status, refused.reason)
        return params, expiry

    async def _read_ops(self, ws: web.WebSocketResponse, session: Session) -> None:
        bad_frames = 0
        async for msg in ws:
            session.heard = True
            if session.closed:  # closing: the loop ends when the close handshake does
                continue
            if msg.type == WSMsgType.TEXT:
                reply, ok = self._apply(session, msg.data)
            elif msg.type == WSMsgType.PONG:
                continue
            elif msg.type == WSMsgType.PING:
                reply, ok = pong_frame(msg.data), True
            elif msg.type == WSMsgType.BINARY:
                reply, ok = _error("bad_frame", "binary frames are not supported"), False
            else:  # ERROR: aiohttp has closed it (e.g. 1009 for a frame over the limit)
                break
            session.send(reply)
            if not ok:
                self.service.metrics.bad_client_frames += 1
                bad_frames += 1
                if bad_frames >= MAX_BAD_FRAMES:
                    self.close(session, CloseCode.POLICY_VIOLATION, "too many bad frames")

    def _apply(self, session: Session, text: str) -> tuple[bytes, bool]:
        """The reply to one client frame, and whether the frame was acceptable."""
        try:
            op = parse_client_op(text)
        except Invalid as exc:
            return _error("bad_frame", str(exc), exc.field), False
        if isinstance(op, PingOp):
            return encode_event("pong"), True
        hub = self.service.hub
        if isinstance(op, SubscribeOp):
            if op.topic not in session.topics and len(session.topics) >= self.max_topics:
                message = f"topic: at most {self.max_topics} per connection"
                return _error("too_many_topics", message, "topic"), False
            hub.subscribe(session, op.topic)
            return encode_event("subscribed", topic=op.topic), True
        hub.unsubscribe(session, op.topic)
        return encode_event("unsubscribed", topic=op.topic), True

    def close(self, conn: Connection, code: int, reason: str) -> None:
        """Close one connection from the server side (disconnect, expiry, overflow, drain)."""
        ws = self.sockets.get(conn)
        if ws is None or ws.closed:
            return
        if isinstance(conn, Session):
            conn.flush()  # what was accepted for it goes out before the close frame
            conn.close()
        task = asyncio.ensure_future(_close(ws, code, reason))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _too_slow(self, session: Session) -> None:
        self.service.metrics.slow_clients_closed += 1
        log.warning(
            "closing a slow client: send buffer over %d bytes",
            self.send_buffer_bytes,
            extra={"user_id": session.user_id, "close_code": int(CloseCode.TOO_SLOW)},
        )
        self.close(session, CloseCode.TOO_SLOW, "too slow: send buffer overflow")

    async def close_all(self, code: int, reason: str, within: float) -> None:
        """Close every connection; wait up to `within` seconds for the close handshakes."""
        if self._heartbeat is not None:
            self._heartbeat.stop()
        self.scheduler.flush()
        for conn in list(self.sockets):
            self.close(conn, code, reason)
        if self._tasks and within > 0:
            await asyncio.wait(list(self._tasks), timeout=within)


_DENIED_ERRORS = {
    401: "unauthorized",
    403: "forbidden",
    429: "too_many_connections",
    503: "unavailable",
}


async def _close(ws: web.WebSocketResponse, code: int, reason: str) -> None:
    try:
        await ws.close(code=code, message=reason.encode(), drain=False)
    finally:
        _drop_tracebacks(ws.exception())


def _drop_tracebacks(exc: BaseException | None) -> None:
    """Unlink the frames from an exception aiohttp kept on a closed socket (and its context).

    The frames refer to the socket, which refers to the exception: a reference cycle that
    would keep the whole connection (some 50 objects) alive until a full collection, and
    long-lived objects are left out of those (see gc_policy.py).
    """
    while exc is not None and exc.__traceback__ is not None:
        exc.__traceback__ = None
        exc = exc.__context__


def _query(request: web.Request) -> dict[str, list[str]]:
    """Each query key with all its values, decoded as `request.query` would decode them.

    Parsed from the raw string rather than via `request.query`, which caches a MultiDict
    on the request's URL for as long as the connection lives.
    """
    query: dict[str, list[str]] = {}
    for key, value in parse_qsl(request.rel_url.raw_query_string, keep_blank_values=True):
        query.setdefault(key, []).append(value)
    return query


def _token(request: web.Request, params: ConnectParams) -> str | None:
    if params.token is not None:
        return params.token
    return bearer_token(request.headers.get("Authorization", ""))


def _error(code: str, message: str, field: str | None = None) -> bytes:
    if field is None:
        return encode_event("error", code=code, message=message)
    return encode_event("error", code=code, field=field, message=message)


def _refuse(status: int, error: str, message: str, field: str | None = None) -> web.Response:
    body: dict[str, str] = {"error": error, "message": message}
    if field is not None:
        body["field"] = field
    return web.json_response(body, status=status)
