"""What receipts cost, stage by stage, for callgrind (`scripts/profile-receipts`).

Two figures, as `stages.py` counts the publish path (each `os.getppid()` is a marker at
which callgrind dumps its counters):

- **tracking, per notification**: the per-user publish (`publish_many` on the memory log,
  then the flush that writes each connection's frames) with receipts on, beside the same
  with receipts off, in one process; the difference is what tracking costs a publish.
- **one ack, from socket to store**: each connection's cumulative ack as the client sends
  it, a masked WebSocket text frame, handed to its `WebSocketProtocol` as the event loop
  does (`data_received(bytes)`: the protocol's `_frames`, the connection's `heard_from`,
  its `ServerMachine`'s `small_text`, the edge's `text`, which is `ClientOps.received`,
  then receipts' ack taker) up to the ack queued with the receipts (`receive`), then
  applied to the store with the rest of its batch by the ack task (`apply`).

A round publishes one notification to every user (one connection each), flushes, and has
every connection ack it: an ack covers one notification, as with the SDKs' leading-edge acks
when a user's notifications are sparse (each acked at once; a burst shares one ack per
second). Printed: instructions per notification and per ack.

- **forgetting, per notification forgotten** (`--max-tracked N`): the memory store bounded
  to N notifications, as every long-running gateway is (GATEWAY_RECEIPTS_MAX): with N at
  most the number of users, every round past the first forgets as many as it tracks (the
  previous round's, acked), as a gateway past its bound does. The store's forgetting,
  which its track runs last, runs in a stage of its own (`forget`), right after the
  publish, so `publish_on` counts tracking alone. (N below the number of users also
  forgets some of the round's own notifications before their acks.)
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

_ROOT = Path(__file__).resolve().parents[2]
for _path in (_ROOT, _ROOT / "scripts"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

from benchkit.stages import CountingTransport, finish, stage_totals  # noqa: E402
from gateway.connection.admission import AdmissionPolicy  # noqa: E402
from gateway.connection.connection import Connection, ConnectionContext  # noqa: E402
from gateway.connection.dispatch import ClientOps  # noqa: E402
from gateway.flush import FlushScheduler  # noqa: E402
from gateway.gc_policy import settle  # noqa: E402
from gateway.hub import Hub  # noqa: E402
from gateway.log.base import AppendResult  # noqa: E402
from gateway.log.memory import MemoryLog  # noqa: E402
from gateway.models import NotificationItem, PublishItem, UsersTarget  # noqa: E402
from gateway.receipts.handlers import ack_reader, receipt_handlers  # noqa: E402
from gateway.receipts.memory import MemoryReceiptStore  # noqa: E402
from gateway.receipts.tracker import Receipts  # noqa: E402
from gateway.service import NotificationService  # noqa: E402
from gateway.websocket.edge import WebSocketEdge  # noqa: E402
from gateway.websocket.protocol import WebSocketProtocol  # noqa: E402

#: Per notification: publish and flush, receipts off then on. Per ack: the rest.
NOTIFICATION_STAGES = ("publish_off", "flush_off", "publish_on", "flush_on")
ACK_STAGES = ("receive", "apply")
_ZERO_MASK = b"\x00\x00\x00\x00"

#: The markers' labels in order, read by the report.
LABELS: list[str] = []


def mark(label: str) -> None:
    LABELS.append(label)
    os.getppid()


class _Side:
    """One gateway's publish path over the memory log, `users` connections, one each."""

    def __init__(self, users: int, receipts: Receipts | None) -> None:
        loop = asyncio.new_event_loop()  # never run: the scheduler only needs call_soon
        self.scheduler = FlushScheduler(loop)
        self.service = NotificationService(
            MemoryLog(max_entries=1_000_000),
            Hub(),
            self.scheduler,
            max_notification_bytes=64 * 1024,
            max_connections=1_000_000,
            max_connections_per_user=8,
            receipts=receipts,
        )
        finish(self.service.start())
        self.transport = CountingTransport()
        self.context = context = ConnectionContext(
            self.scheduler, 1 << 30, self.service.detach, self.service.metrics
        )
        self.conns = []
        for u in range(users):
            conn = Connection(f"u{u}", (), self.transport, context)
            finish(self.service.attach(conn))
            conn.start([])
            self.conns.append(conn)

    def publish(self, items: list[PublishItem]) -> list[str]:
        results = finish(self.service.publish_many(items))
        return [r.cursor for r in results if isinstance(r, AppendResult)]


def _items(users: int, round_: int, payload_bytes: int) -> list[PublishItem]:
    """One notification to each user, as the gRPC edge accepts them (targets shared)."""
    pad = "x" * max(0, payload_bytes - 56)
    at = datetime(2026, 1, 1, tzinfo=UTC)
    return [
        PublishItem(
            _TARGETS.setdefault(u, UsersTarget(user_ids=(f"u{u}",))),
            NotificationItem(
                f"r{round_}-{u}",
                "bench.event",
                "",
                "",
                {"seq": round_, "pad": pad},
                None,
                at,
                None,
                None,
            ),
        )
        for u in range(users)
    ]


_TARGETS: dict[int, UsersTarget] = {}


def _freeze_after_full(phase: str, info: dict[str, int]) -> None:
    if phase == "stop" and info["generation"] == 2:
        gc.freeze()


class _ForgettingApart(MemoryReceiptStore):
    """The memory store whose forgetting waits for `forget_now` (the `forget` stage)
    instead of running at the end of each track."""

    deferred = True

    def _forget(self, now: float) -> None:
        if not self.deferred:
            super()._forget(now)

    def forget_now(self) -> int:
        """Forget what is past the bounds now; how many were forgotten."""
        before = self._base + self._gone
        self.deferred = False
        try:
            self._forget(time.time())
        finally:
            self.deferred = True
        return self._base + self._gone - before


def _protocols(side: _Side, ops: ClientOps) -> list[WebSocketProtocol]:
    """Each of `side`'s connections behind the `WebSocketProtocol` the HTTP port makes for
    it, past its upgrade (its head read, the connection accepted), its endpoint the real
    `WebSocketEdge`. The connection writes through its counting transport, as in the
    publish stages: only what the client sends goes through the protocol here."""
    service = side.service
    policy = AdmissionPolicy(
        verifier=None,
        allowed_origins=None,
        max_topics=16,
        topics_required=False,
        capacity=service.admit,
    )
    edge = WebSocketEdge(
        service=service,
        context=side.context,
        policy=policy,
        ops=ops,
        max_frame_bytes=1 << 16,
        heartbeat=30.0,
    )
    make = edge.protocol_factory(lambda: asyncio.Protocol())
    protocols = []
    for conn in side.conns:
        protocol = make()
        protocol._head_done()  # the upgrade's head was read (no event loop: no timer)
        protocol.accept(conn, b"")
        protocols.append(protocol)
    return protocols


def ack_frame(cursor: str) -> bytes:
    """A client's ack as it arrives: a masked text frame (zero key: bytes as they are)."""
    payload = b'{"op":"ack","cursor":"' + cursor.encode() + b'"}'
    return bytes((0x81, 0x80 | len(payload))) + _ZERO_MASK + payload


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=4, help="measured rounds")
    parser.add_argument("--payload-bytes", type=int, default=100)
    parser.add_argument(
        "--max-tracked",
        type=int,
        metavar="N",
        help="bound the store to N notifications and count its forgetting (`forget`)",
    )
    parser.add_argument("--report", type=Path, metavar="DIR")
    parser.add_argument("--no-gc", action="store_true", help="with the cyclic GC off")
    parser.add_argument(
        "--no-freeze",
        action="store_true",
        help="without the gateway's GC policy (survivors frozen, young threshold raised)",
    )
    args = parser.parse_args(argv)
    if args.report is not None:
        return report(args.report)

    users = args.users
    if args.no_gc:
        gc.disable()
    off = _Side(users, None)
    store: MemoryReceiptStore
    if args.max_tracked is None:
        store = MemoryReceiptStore(max_tracked=1_000_000)
    else:
        store = forgetting = _ForgettingApart(max_tracked=args.max_tracked)
    forgotten = 0
    receipts = Receipts(store, max_age=3600.0)
    on = _Side(users, receipts)
    ops = ClientOps(
        on.service,
        None,
        max_topics=16,
        extra=receipt_handlers(receipts),
        first=ack_reader(receipts),
    )
    protocols = _protocols(on, ops)
    measuring = False
    applied = 0
    for r in range(1 + args.rounds):  # the first round warms every path up
        if r == 1:
            if not args.no_freeze:  # as gc_policy.GcPolicy runs the gateway's GC
                settle()  # what survives frozen, the young threshold raised
                gc.callbacks.append(_freeze_after_full)
            measuring = True
        items = _items(users, r, args.payload_bytes)
        if measuring:
            mark("setup")
        off.publish(items)
        if measuring:
            mark("publish_off")
        off.scheduler.flush()
        if measuring:
            mark("flush_off")
        cursors = on.publish(items)
        if measuring:
            mark("publish_on")
        if args.max_tracked is not None:
            gone = forgetting.forget_now()
            if measuring:
                mark("forget")
                forgotten += gone
        on.scheduler.flush()
        if measuring:
            mark("flush_on")
        frames = [ack_frame(c) for c in cursors]
        if measuring:
            mark("setup")
        # as the event loop hands each connection's socket read to its protocol
        for protocol, frame in zip(protocols, frames, strict=True):
            protocol.data_received(frame)
        if measuring:
            mark("receive")
        finish(receipts._apply())
        if measuring:
            mark("apply")
        applied = receipts.stats.acks_applied
    measured = users * args.rounds
    delivered = receipts.stats.delivered
    print(
        json.dumps(
            {
                "labels": LABELS,
                "measured": measured,
                "acks_applied": applied,
                "delivered": delivered,
                "forgotten": forgotten,
                "writes": on.transport.writes,
            }
        )
    )
    return 0


def report(folder: Path) -> int:
    counted = stage_totals(folder)
    if counted is None:
        return 1
    meta, totals = counted
    n = meta["measured"]
    per: dict[str, Any] = {label: totals.get(label, 0) / n for label in totals}
    print(f"{'per notification':<20} {'instructions':>14}")
    for label in NOTIFICATION_STAGES:
        print(f"  {label:<18} {per.get(label, 0):>14,.0f}")
    tracking = (
        per.get("publish_on", 0)
        + per.get("flush_on", 0)
        - per.get("publish_off", 0)
        - per.get("flush_off", 0)
    )
    print(f"  {'tracking (on-off)':<18} {tracking:>14,.0f}")
    if meta.get("forgotten"):
        print(f"{'per forgotten':<20} {'instructions':>14}")
        forget = totals.get("forget", 0) / meta["forgotten"]
        print(f"  {'forget':<18} {forget:>14,.0f}")
    print(f"{'per ack':<20} {'instructions':>14}")
    for label in ACK_STAGES:
        print(f"  {label:<18} {per.get(label, 0):>14,.0f}")
    print(f"  {'ack total':<18} {sum(per.get(label, 0) for label in ACK_STAGES):>14,.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
