"""One connected client, whatever its transport: `Connection`.

A connection owns its identity (`user_id`), what it follows (`topics`, a frozenset only
the hub replaces), what its token allows (`grant`) and until when (its expiry timer), its
outgoing buffer, its liveness (`heard`) and its count of bad client frames. Its transport
(transport.py) is a small adapter that only moves bytes. Nothing sets state onto a
connection from outside: the edges and the service call its methods.

The outgoing buffer (queue, flush, replay, the slow-reader rule) is the base class
`Outbox` (outbox.py), where its rules are written down; this module adds the rest and the
ways a connection ends.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING

from gateway.closecodes import CloseCode
from gateway.connection.outbox import ConnectionContext, Outbox
from gateway.connection.outgoing import PING, Outgoing
from gateway.connection.transport import Transport

if TYPE_CHECKING:
    from gateway.connection.grants import TopicGrant

__all__ = [
    "MAX_BAD_FRAMES",
    "Connection",
    "ConnectionContext",
    "SseConnection",
    "connection_for",
]

log = logging.getLogger("gateway.connection")

#: Bad client frames (or ops) tolerated on one connection before it is closed with 1008.
MAX_BAD_FRAMES = 10
#: The topics of every connection that follows none: one shared object, not a set each.
_NO_TOPICS: frozenset[str] = frozenset()


class Connection(Outbox):
    """One client: who it is, what it follows and may follow, what it is owed."""

    __slots__ = ("_bad", "_expiry", "grant", "heard", "topics", "user_id")

    def __init__(
        self,
        user_id: str,
        topics: Iterable[str],
        transport: Transport,
        context: ConnectionContext,
        grant: TopicGrant | None = None,
    ) -> None:
        super().__init__(transport, context)
        self.user_id = user_id
        self.topics: frozenset[str] = frozenset(topics) or _NO_TOPICS
        #: The topics the token allows; None: any topic. Changed by `refresh` only.
        self.grant = grant
        self._expiry: asyncio.TimerHandle | None = None
        self._bad = 0
        #: Whether the client sent anything since the last heartbeat.
        self.heard = True

    # -- liveness, bad input, token terms ---------------------------------------------------

    def heard_from(self) -> None:
        """The client sent something: it is alive."""
        self.heard = True

    def beat(self) -> bool:
        """The heartbeat's visit: ping a client heard from since the last visit (or keep an
        SSE stream open), drop one that stayed silent. False if it was dropped."""
        if self.closed:
            return True
        if self.heard or not self._transport.answers_pings:
            self.heard = False
            self.send(PING)
            return True
        self.abort()
        return False

    def bad_frame(self) -> None:
        """The client sent something it may not (its error is queued): at MAX_BAD_FRAMES it
        is closed with 1008."""
        self._context.metrics.bad_client_frames += 1
        self._bad += 1
        if self._bad >= MAX_BAD_FRAMES:
            self.close(CloseCode.POLICY_VIOLATION, "too many bad frames")

    def expire_at(self, expiry: float, grant: TopicGrant | None) -> None:
        """(Re)set the token's terms: closed with 4001 at `expiry` (Unix time); `grant` is
        what it may follow from now on (the caller drops what it no longer allows)."""
        self.grant = grant
        if self._expiry is not None:
            self._expiry.cancel()
        self._expiry = asyncio.get_running_loop().call_later(
            max(0.0, expiry - time.time()), self.close, CloseCode.TOKEN_EXPIRED, "token expired"
        )

    # -- the end ------------------------------------------------------------------------------

    def close(self, code: int, reason: str) -> None:
        """Close from the server side (Disconnect, gap, expiry, slow reader, drain).

        It leaves live delivery at once (presence stops counting it); what was queued goes
        out before the transport's close. A connection still held has not sent its
        response head, so nothing may follow: it is dropped instead.
        """
        if self.closed:
            return
        self._context.detach(self)
        if self.end():
            self._transport.close(code, reason)

    def end(self) -> bool:
        """Stop: what is queued goes out first (unless still held), nothing more after.

        For a transport that ends on its own side (a client's close frame, a protocol
        error): True if the transport may still write its last words, False if it was
        dropped (a held connection must not write before its response head).
        """
        if self.closed:
            return False
        self._cancel_expiry()
        if self.held:
            self._discard()
            self._transport.abort()
            return False
        self.flush()
        if self.closed:  # the flush found the reader too slow
            return False
        self._discard()
        return True

    def refuse(self, code: int, reason: str) -> None:
        """End a connect whose start failed after it joined live delivery (its replay could
        not be read): the response head and the close, and none of the live items queued
        meanwhile. A resuming client given those would take its cursor from them, and its
        next resume would skip the range that was never replayed (issue 15, fault path 1)."""
        if self.closed:
            return
        self._pending = []
        self.start([])
        self.close(code, reason)

    def abort(self) -> None:
        """Drop the connection at once, unsent items and all (a peer that stopped answering)."""
        self._context.detach(self)
        self._cancel_expiry()
        self._discard()
        self._transport.abort()

    def release(self) -> None:
        """The transport is gone: out of live delivery, timers cancelled, nothing kept."""
        self._context.detach(self)
        self._cancel_expiry()
        self._discard()

    def _too_slow(self) -> None:
        """The slow-reader rule (outbox.py) found the reader behind: close it with 4008."""
        context = self._context
        context.metrics.slow_clients_closed += 1
        log.warning(
            "closing a slow client: send buffer over %d bytes",
            context.limit,
            extra={"user_id": self.user_id, "close_code": int(CloseCode.TOO_SLOW)},
        )
        context.detach(self)
        self._cancel_expiry()
        self._discard()  # what is queued is dropped: the reader could not take it
        self._transport.close(CloseCode.TOO_SLOW, "too slow: send buffer overflow")

    def _cancel_expiry(self) -> None:
        # the timer refers back to this connection: no cycle may outlive it (gc_policy.py)
        if self._expiry is not None:
            self._expiry.cancel()
            self._expiry = None


class SseConnection(Connection):
    """A connection whose transport is an SSE stream: the same object, framing with
    `item.sse()` (see `Outbox.send` for why this is a subclass and not a check)."""

    __slots__ = ()

    def send(self, item: Outgoing) -> None:
        if self.closed:
            return
        backlog = self._backlog
        if not self._pending and not self.held and backlog is None:
            self._context.scheduler.mark(self)
        frame = item.sse()
        self._pending.append(frame)
        if backlog is not None:
            self._behind_replay(len(frame))


def connection_for(
    user_id: str,
    topics: Iterable[str],
    transport: Transport,
    context: ConnectionContext,
    grant: TopicGrant | None = None,
) -> Connection:
    """The connection of a client on `transport`, of the class for its kind."""
    kind = SseConnection if transport.kind == "sse" else Connection
    return kind(user_id, topics, transport, context, grant)
