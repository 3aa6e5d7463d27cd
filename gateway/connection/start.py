"""The tail of every connect, whatever the transport: into live delivery, then the welcome
(and any replay) ahead of every live item. `begin` runs it: on the caller's stack when it
needs no wait (the memory log's fresh connects), else with `eager.start_eagerly`."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any, NamedTuple

import pydantic_core

from gateway.closecodes import CloseCode
from gateway.connection.connection import Connection
from gateway.connection.eager import start_eagerly
from gateway.connection.outgoing import Outgoing
from gateway.log.base import BackendUnavailable
from gateway.log.cursor import Cursor
from gateway.service import NotificationService
from gateway.wire import text_frame

__all__ = ["begin", "start", "welcome"]

log = logging.getLogger("gateway.connection")


def welcome(
    conn: Connection,
    cursor: Cursor,
    heartbeat: float,
    *,
    stream: str | None,
    resuming: bool,
    receipts: bool = False,
) -> Outgoing:
    """The first event of every connection: who it is, what it follows, where it starts.

    On SSE it names the stream (for the ops endpoint), and a fresh stream's welcome carries
    the head as its `id:`, so a browser that reconnects on its own resumes from there. A
    resuming stream's welcome carries none: the browser keeps the id it resumed from until
    the replay's own ids move it on. With receipts on it says so (`receipts: true`):
    clients send acks only then.
    """
    if not conn.topics and stream is None and not receipts:
        return _plain_welcome(conn.user_id, cursor, heartbeat, resuming)
    head = str(cursor)
    fields: dict[str, object] = {
        "event": "welcome",
        "user_id": conn.user_id,
        "topics": sorted(conn.topics) if conn.topics else [],
        "cursor": head,
        "heartbeat": heartbeat,
    }
    if stream is not None:
        fields["stream"] = stream
    if receipts:  # receipts (issue 17)
        fields["receipts"] = True
    return Outgoing.of_fields(fields, None if resuming else head)


class _Tail(NamedTuple):
    cursor: Cursor
    heartbeat: float
    head: str
    #: The welcome's JSON after its `user_id` (the same for every client that follows no
    #: topic, while the head stays where it is).
    json: bytes


_PLAIN = b'{"event":"welcome","user_id":'
_last_tail = _Tail(Cursor("", None, -1), 0.0, "", b"")


def _plain_welcome(user_id: str, cursor: Cursor, heartbeat: float, resuming: bool) -> Outgoing:
    """The welcome of a WebSocket or SSE client that follows no topic, from a tail made
    once per log head: the same bytes as `Outgoing.of_fields` gives (the same encoder, the
    same field order), for a fifth of the instructions of encoding the whole object."""
    global _last_tail
    tail = _last_tail
    if tail.cursor is not cursor or tail.heartbeat != heartbeat:
        head = str(cursor)
        fields = {"topics": [], "cursor": head, "heartbeat": heartbeat}
        json = b"," + pydantic_core.to_json(fields)[1:]
        tail = _last_tail = _Tail(cursor, heartbeat, head, json)
    payload = _PLAIN + pydantic_core.to_json(user_id) + tail.json
    return Outgoing("welcome", payload, text_frame(payload), None if resuming else tail.head)


def begin(
    service: NotificationService,
    conn: Connection,
    since: Cursor | None,
    heartbeat: float,
    tasks: set[asyncio.Task[None]],
    stream: str | None = None,
) -> None:
    """Start `conn` as `start` does: on the caller's stack when it can end there (no
    replay, and a log with nothing to wait for: the memory log's fresh connects), else
    `start` run by `start_eagerly` (a task, kept in `tasks`, from its first suspension)."""
    if since is not None:
        start_eagerly(start(service, conn, since, heartbeat, stream), tasks)
        return
    try:
        attached = service.attach_now(conn)
    except BackendUnavailable as exc:
        _unreachable(conn, exc)
        return
    except Exception:
        log.exception("a connection's start failed")
        return
    if isinstance(attached, Cursor):
        _welcomed(service, conn, attached, heartbeat, stream)
    else:
        start_eagerly(_attached(service, conn, attached, heartbeat, stream), tasks)


async def _attached(
    service: NotificationService,
    conn: Connection,
    attaching: Coroutine[Any, Any, Cursor],
    heartbeat: float,
    stream: str | None,
) -> None:
    """`begin`'s tail for a log that makes the attach wait."""
    try:
        cursor = await attaching
    except BackendUnavailable as exc:
        _unreachable(conn, exc)
        return
    _welcomed(service, conn, cursor, heartbeat, stream)


def _welcomed(
    service: NotificationService,
    conn: Connection,
    cursor: Cursor,
    heartbeat: float,
    stream: str | None,
) -> None:
    """A fresh connect is attached at `cursor`: its welcome ahead of every live item."""
    if conn.closed:  # closed (or gone) while attaching: out again
        service.detach(conn)
        return
    receipts = service.receipts is not None
    conn.start([welcome(conn, cursor, heartbeat, stream=stream, resuming=False, receipts=receipts)])


def _unreachable(conn: Connection, exc: BackendUnavailable) -> None:
    # the response head goes out first (the transport puts it before the close)
    log.warning("attach failed: %s", exc, extra={"user_id": conn.user_id})
    conn.start([])
    conn.close(CloseCode.TRY_AGAIN_LATER, "backend unreachable: retry")


async def start(
    service: NotificationService,
    conn: Connection,
    since: Cursor | None,
    heartbeat: float,
    stream: str | None = None,
) -> None:
    """Attach `conn`, then queue its welcome (and replay from `since`) ahead of live items."""
    try:
        cursor = await service.attach(conn)
    except BackendUnavailable as exc:
        _unreachable(conn, exc)
        return
    if conn.closed:  # closed (or gone) while attaching: out again
        service.detach(conn)
        return
    resuming = since is not None
    receipts = service.receipts is not None
    first = [welcome(conn, cursor, heartbeat, stream=stream, resuming=resuming, receipts=receipts)]
    if since is None:
        conn.start(first)
        return
    try:
        resumed, items = await service.replay(conn, since, cursor)
    except BackendUnavailable as exc:
        # no welcome and no live item: nothing may move a resuming client past the
        # replay that did not happen (issue 15, fault path 1)
        log.warning("replay failed: %s", exc, extra={"user_id": conn.user_id})
        conn.refuse(CloseCode.TRY_AGAIN_LATER, "backend unreachable: retry with since")
        return
    except Exception:
        log.exception("replay failed", extra={"user_id": conn.user_id})
        conn.abort()
        return
    conn.start([*first, resumed], items)
