"""An async iterator of one user's notifications that survives drops and gateway restarts.

async with Subscriber("ws://127.0.0.1:8080/ws", "alice", topics=["news"]) as sub:
    async for item in sub:
        if isinstance(item, Resync):
            refetch_state()           # some of what was missed is gone
        else:
            handle(item)              # a Notification, with its cursor

The contract, shared with the browser client:
- connect with the user, every topic currently followed and, after the first connection,
  `since=<last cursor>`; the token is offered as the subprotocol entry `bearer.<jwt>` beside
  `notifications.v1`, and also as `Authorization: Bearer` for gateways that predate the
  subprotocol (never in the URL); `get_token` is called before every connect and, on a
  gateway that speaks `notifications.v1`, before the token expires, to send the next one
  on the open socket (`{"op": "refresh"}`, see `tokens.py`);
- on a drop, reconnect after a full-jitter exponential backoff (0.5 s doubling to 20 s);
  what each close code means is `close_policy.py`'s table: 1000, 4009 and the protocol
  errors stop the iterator with `SubscriberStopped`, 4001 fetches a fresh token first;
- a resume that was not complete yields a `Resync` before the replayed notifications;
- a notification whose cursor was seen among the last `dedup_window` is skipped (where
  each connect resumes from is `position.py`'s);
- when nothing arrives for `ping_after` seconds, `{"op": "ping"}` is sent; if nothing
  answers within `pong_timeout`, the connection is dropped and resumed.

The iterator reads the socket only while it is being awaited, so a slow consumer holds
no queue: the gateway buffers, and past its limit closes with 4008, which resumes. One
task iterates; `subscribe`, `unsubscribe` and `close` may be called from any task.

`transport="sse"` reads the same events from `GET /sse` (for networks that do not pass a
WebSocket upgrade), the token as `Authorization: Bearer`, ops posted to `POST /sse/ops`
(sse_link.py); every rule above holds unchanged.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any, Literal, Self

import aiohttp

from gateway.client.acks import MAX_QUEUED_READS, AckSchedule
from gateway.client.backoff import Backoff
from gateway.client.close_policy import CloseAction, close_action
from gateway.client.dial import SUBPROTOCOL, Dropped, Link, Refused, dial, refusal_body
from gateway.client.endpoints import plain_http_url, sse_url
from gateway.client.errors import SubscriberRefused, SubscriberStopped
from gateway.client.items import Notification, Resync, StateChange
from gateway.client.position import Position
from gateway.client.tokens import Tokens, TokenSource

__all__ = ["SUBPROTOCOL", "Subscriber"]

#: Refusals that retrying cannot fix (bad parameters, bad token, forbidden, no such path,
#: a request head over the gateway's limit: a token or topic list too large).
_FINAL_STATUSES = frozenset({400, 401, 403, 404, 431})


class Subscriber:
    def __init__(
        self,
        url: str,
        user_id: str,
        topics: Iterable[str] = (),
        *,
        token: str | None = None,
        get_token: TokenSource | None = None,
        since: str | None = None,
        backoff_base: float = 0.5,
        backoff_cap: float = 20.0,
        ping_after: float = 20.0,
        pong_timeout: float = 10.0,
        connect_timeout: float = 10.0,
        dedup_window: int = 1024,
        on_event: Callable[[dict[str, Any]], None] | None = None,
        on_state: Callable[[StateChange], None] | None = None,
        acks: bool = True,
        ack_interval: float = 1.0,
        ack_every: int = 100,
        transport: Literal["websocket", "sse"] = "websocket",
    ) -> None:
        self._tokens = Tokens(token, get_token)
        self.url = url
        self._plain_url = plain_http_url(url)  # also checks it: a typo is no endless retry
        if transport not in ("websocket", "sse"):
            raise ValueError(f"transport must be 'websocket' or 'sse', not {transport!r}")
        self.transport = transport
        self._sse_url = sse_url(url)
        self.user_id = user_id
        self._topics = dict.fromkeys(topics)  # ordered, no repeats
        #: Where the next connect resumes from, and which notifications are new.
        self._position = Position(since, dedup_window)
        self._backoff = Backoff(backoff_base, backoff_cap)
        self._ping_after = ping_after
        self._pong_timeout = pong_timeout
        #: Bounds the TCP connect and the wait for the upgrade's answer (not the socket's life).
        self._http_timeout = aiohttp.ClientTimeout(
            total=None, connect=connect_timeout, sock_read=connect_timeout
        )
        self._on_event = on_event
        self._on_state = on_state
        self.state = "idle"
        self._http: aiohttp.ClientSession | None = None
        self._ws: Link | None = None
        self._retry_in: float | None = None  # wait before the next connect
        self._retried_401 = False  # a 401 is retried once, with a token fetched anew
        self._closing = asyncio.Event()
        self._pinged = False
        self._ops: list[dict[str, str]] = []  # to send once the current frame is handled
        # receipts: acks owed for what was handed over, reads waiting for a connection
        self._acks = AckSchedule(ack_interval, ack_every, enabled=acks)
        self._handed: str | None = None  # the cursor last returned: handled once asked again
        self._since: str | None = None  # what the current connection resumed after

    @property
    def topics(self) -> frozenset[str]:
        return frozenset(self._topics)

    @property
    def cursor(self) -> str | None:
        """Where the next connect resumes from: the last notification's cursor."""
        return self._position.cursor

    @cursor.setter
    def cursor(self, value: str | None) -> None:
        self._position.cursor = value

    # -- following topics ------------------------------------------------------------

    async def subscribe(self, topic: str) -> None:
        """Follows `topic` now (if connected) and on every reconnect."""
        self._topics[topic] = None
        await self._send_op({"op": "subscribe", "topic": topic})

    async def unsubscribe(self, topic: str) -> None:
        self._topics.pop(topic, None)
        await self._send_op({"op": "unsubscribe", "topic": topic})

    async def _send_op(self, op: dict[str, str]) -> None:
        ws = self._ws
        if ws is not None and not ws.closed:
            # a send lost to a drop is harmless: the reconnect URL lists the topics
            with contextlib.suppress(ConnectionError, aiohttp.ClientError):
                await ws.send_str(json.dumps(op))

    # -- iteration -------------------------------------------------------------------

    def __aiter__(self) -> Self:
        return self

    async def mark_read(self, notification_id: str) -> None:
        """Receipts: the person saw `notification_id` (sent now, or after the next connect)."""
        if self._ws is not None and self._acks.on:
            await self._send_op({"op": "read", "id": notification_id})
        else:
            self._acks.reads.append(notification_id)

    async def __anext__(self) -> Notification | Resync:
        if self._handed is not None:  # the app asks for more: it has handled the last one
            self._acks.received(self._handed)
            self._handed = None
        while True:
            if self._closing.is_set():
                raise StopAsyncIteration
            ws = self._ws
            if ws is None:
                await self._connect()
                continue
            ack = self._acks.take()
            if ack is not None:
                await self._send_op({"op": "ack", "cursor": ack})
            item = await self._receive(ws)
            if item is not None:
                return item

    async def _receive(self, ws: Link) -> Notification | Resync | None:
        silence = self._pong_timeout if self._pinged else self._ping_after
        refresh_at = self._tokens.refresh_at
        refresh_in = None if refresh_at is None else refresh_at - time.time()
        if refresh_in is not None and refresh_in <= 0:
            await self._refresh_token()
            return None
        wait = silence if refresh_in is None else min(silence, refresh_in)
        ack_in = self._acks.due_in()
        if ack_in is not None and ack_in < wait:
            wait = ack_in
        try:
            msg = await ws.receive(timeout=wait)
        except TimeoutError:
            if refresh_in is not None and refresh_in < silence:
                return None  # time to refresh, not a silent link
            if ack_in is not None and ack_in <= wait:
                return None  # time to ack, not a silent link
            if not self._pinged:
                self._pinged = True
                await self._send_op({"op": "ping"})
                return None
            # a dead link cannot carry the close handshake: send the frame, do not wait
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(0.05):
                    await ws.close(code=1001, message=b"no answer to ping")
            self._ended(None, "no answer to ping")
            return None
        self._pinged = False
        kind = msg.type
        if kind == aiohttp.WSMsgType.TEXT:
            try:
                frame = json.loads(msg.data)
            except ValueError:
                return None  # not ours to judge; the gateway only sends JSON
            item = self._frame(frame) if isinstance(frame, dict) else None
            while self._ops:  # topic changes made while the connect was under way
                await self._send_op(self._ops.pop(0))
            return item
        if kind == aiohttp.WSMsgType.CLOSE:
            self._ended(msg.data, msg.extra or "")
        elif kind == aiohttp.WSMsgType.CLOSING:
            self._ended(ws.close_code, "")
        elif kind in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR):
            # aiohttp reports a connection that just ended (no close frame) as 1000
            self._ended(None if ws.close_code in (None, 1000) else ws.close_code, "")
        return None

    async def _refresh_token(self) -> None:
        """Sends a fresh token; the `refreshed` answer sets when the next one is due."""
        self._tokens.taken()
        token = await self._tokens.current()
        if token:
            await self._send_op({"op": "refresh", "token": token})

    def _frame(self, frame: dict[str, Any]) -> Notification | Resync | None:
        event = frame.get("event")
        if event == "notification":
            return self._notification(frame)
        if event == "welcome":
            self._welcome(frame)
        elif event == "refreshed" and isinstance(frame.get("expires_at"), int | float):
            self._tokens.refreshed(float(frame["expires_at"]))
        elif event == "resumed":
            replayed = int(frame.get("replayed", 0))
            self._position.resumed(replayed)
            if self._on_event is not None:
                self._on_event(frame)
            if not frame.get("complete", True):
                return Resync(str(frame.get("since", "")), replayed)
            return None
        if self._on_event is not None and event != "pong":
            self._on_event(frame)
        return None

    def _welcome(self, frame: dict[str, Any]) -> None:
        head = str(frame.get("cursor", ""))
        self._position.welcome(head)
        self._backoff.reset()
        self._acks.connected(frame.get("receipts") is True, self._since, head)
        if self._acks.on:
            reads, self._acks.reads = self._acks.reads, deque(maxlen=MAX_QUEUED_READS)
            self._ops += [{"op": "read", "id": nid} for nid in reads]
        self._set_state(StateChange("connected"))
        # topics followed or dropped while the connect was under way
        joined = set(frame.get("topics", ()))
        self._ops += [{"op": "subscribe", "topic": t} for t in self._topics if t not in joined]
        self._ops += [{"op": "unsubscribe", "topic": t} for t in joined - self._topics.keys()]

    def _notification(self, frame: dict[str, Any]) -> Notification | None:
        cursor = frame.get("cursor")
        if not isinstance(cursor, str) or not isinstance(frame.get("notification"), dict):
            return None
        if not self._position.notification(cursor):
            self._acks.received(cursor)  # handed over on an earlier connection
            return None
        self._handed = cursor
        return Notification.from_frame(frame)

    # -- connecting ------------------------------------------------------------------

    def _ended(self, code: int | None, reason: str) -> None:
        """The connection is over: decide from the close code whether and when to return."""
        self._ws = None
        self._acks.dropped()
        self._pinged = False
        self._position.dropped()
        self._ops.clear()
        self._tokens.taken()
        if self._closing.is_set():
            return
        # REFRESH_TOKEN needs nothing more: the token is fetched before every connect
        if close_action(code) is CloseAction.STOP:
            self._closing.set()
            self._set_state(StateChange("closed", code, reason))
            raise SubscriberStopped(code or 1000, reason)
        self._retry_in = self._backoff.next_delay()
        self._set_state(StateChange("disconnected", code, reason, self._retry_in))

    async def _connect(self) -> None:
        if self._retry_in is not None:
            try:
                await asyncio.wait_for(self._closing.wait(), self._retry_in)
                return  # closed while waiting
            except TimeoutError:
                pass
            self._retry_in = None
        self._set_state(StateChange("connecting"))
        if self._http is None:
            self._http = aiohttp.ClientSession(timeout=self._http_timeout)
        token = await self._tokens.current()
        params = {"user_id": self.user_id}
        if self._topics:
            params["topics"] = ",".join(self._topics)
        self._since = self._acks.resume_from(self.cursor)
        self._position.connecting(self._since)
        if self._since is not None:
            params["since"] = self._since
        link, offered = await dial(
            self._http, self.transport, self.url, self._sse_url, params, token, self._pong_timeout
        )
        if isinstance(link, Refused | Dropped):
            await self._not_connected(link, params, offered)
            return
        self._retried_401 = False
        if self._closing.is_set():
            await link.close()
            return
        self._ws = link
        # only a gateway that selected notifications.v1 knows the refresh op (SSE: always)
        self._tokens.linked(token, link.protocol == SUBPROTOCOL)

    async def _not_connected(
        self, failed: Refused | Dropped, params: dict[str, str], offered: dict[str, str]
    ) -> None:
        """A connect that failed: retried after the backoff, or `SubscriberRefused` when
        retrying cannot fix it (`offered`: the headers the connect sent, to ask why)."""
        if isinstance(failed, Dropped):
            self._ended(None, failed.reason)
            return
        status = failed.status
        if status not in _FINAL_STATUSES:
            self._ended(None, f"HTTP {status}")
            return
        if status == 401 and self._tokens.renews and not self._retried_401:
            self._retried_401 = True  # it may have expired on its way here
            self._ended(None, "HTTP 401")
            return
        body = failed.body
        if body is None:
            assert self._http is not None
            body = await refusal_body(self._http, self._plain_url, params, offered)
        self._closing.set()
        self._set_state(StateChange("closed", None, f"HTTP {status}"))
        raise SubscriberRefused(status, body)

    def _set_state(self, change: StateChange) -> None:
        self.state = change.state
        if self._on_state is not None:
            self._on_state(change)

    # -- closing ---------------------------------------------------------------------

    async def close(self) -> None:
        """Closes the socket with 1000; an iteration under way ends (StopAsyncIteration)."""
        already = self._closing.is_set()
        self._closing.set()
        ws, self._ws = self._ws, None
        if ws is not None:
            if self._handed is not None:
                self._acks.received(self._handed)
            owed = self._acks.take_all() if self._acks.on else None
            if owed is not None:  # what the app was handed counts as delivered
                with contextlib.suppress(ConnectionError, aiohttp.ClientError):
                    await ws.send_str(json.dumps({"op": "ack", "cursor": owed}))
            await ws.close(code=1000)
        if self._http is not None:
            await self._http.close()
            self._http = None
        if not already or self.state != "closed":
            self._set_state(StateChange("closed", 1000))

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
