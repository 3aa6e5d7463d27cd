"""Publishing over gRPC: what to send (a `Plan`), and sending it with a window.

Each lane is one publisher sending its calls in order (PublishBatch, or unary Publish one
notification at a time, as most backends do); lanes run concurrently, so N unary lanes
keep N calls in flight.
The window keeps at most so many notifications in flight (published, not yet received by
every client), so a load client slower than the server shows up as a lower rate rather
than as clients closed for being slow.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from grpc import aio

from gateway.api.v1 import gateway_pb2 as pb
from gateway.api.v1 import gateway_pb2_grpc as pb_grpc

from . import HOST, peers
from .load import Bench, Progress, reset_receivers, wait_received
from .payload import data_json, pad
from .servers import Server

Lane = list[tuple[pb.Target, int]]


def request(target: pb.Target, ts: float, lane: int, seq: int, padding: str) -> pb.PublishRequest:
    """One notification of type bench.event whose data says when, on which lane, which seq."""
    data = data_json(ts, lane, seq, padding)
    return pb.PublishRequest(
        target=target, notification=pb.Notification(type="bench.event", data_json=data)
    )


def everyone() -> pb.Target:
    return pb.Target(everyone=pb.Everyone())


def broadcast_lanes(count: int, lanes: int) -> list[Lane]:
    """Notification i goes on lane i % lanes with seq i // lanes (gap-free per lane)."""
    target = everyone()
    return [[(target, seq) for seq in range(len(range(p, count, lanes)))] for p in range(lanes)]


@dataclass
class Plan:
    """What to publish: per lane, the notifications in order, each (target, seq)."""

    lanes: list[Lane]
    batch: int
    pad: str
    #: Deliveries per notification (to turn received frames into notifications).
    fanout: float
    #: Notifications in flight (published, not yet received everywhere); 0 = unbounded.
    window: int
    deadline: float
    stall_after: float


@dataclass
class Outcome:
    sent: int = 0
    first_send: float = 0.0
    last_ack: float = 0.0
    errors: int = 0
    error_samples: list[str] = field(default_factory=list)
    blocked: str = ""


async def publish_batches(
    bench: Bench, stub: pb_grpc.NotificationGatewayStub, plan: Plan, unary: bool = False
) -> Outcome:
    """Each lane sends PublishBatch calls one after another; lanes run concurrently.

    `unary`: each lane sends one unary Publish at a time instead (`plan.batch` is ignored).
    """
    out = Outcome()
    progress = Progress(bench, plan.stall_after)
    step = 1 if unary else plan.batch

    async def lane(index: int, items: Lane) -> None:
        for start in range(0, len(items), step):
            chunk = items[start : start + step]
            while plan.window:  # back-pressure from the receivers, not from the server
                in_flight = out.sent - bench.received() / plan.fanout
                if in_flight + len(chunk) <= plan.window + step:
                    break
                if progress.stuck() or time.monotonic() > plan.deadline:
                    raise TimeoutError("receivers made no progress: the server is blocked")
                await asyncio.sleep(0.001)
            ts = time.time()
            if not out.first_send:
                out.first_send = ts
            timeout = max(0.1, plan.deadline - time.monotonic())
            if unary:
                target, seq = chunk[0]
                out.sent += 1
                await stub.Publish(request(target, ts, index, seq, plan.pad), timeout=timeout)
                out.last_ack = time.time()
                continue
            batch = pb.PublishBatchRequest(
                requests=[request(t, ts, index, seq, plan.pad) for t, seq in chunk]
            )
            out.sent += len(chunk)
            response = await stub.PublishBatch(batch, timeout=timeout)
            out.last_ack = time.time()
            for result in response.results:
                if result.code:
                    out.errors += 1
                    if len(out.error_samples) < 3:
                        out.error_samples.append(f"{result.code}: {result.message}")

    lanes = asyncio.ensure_future(
        asyncio.gather(*(lane(i, items) for i, items in enumerate(plan.lanes)))
    )
    while not lanes.done():  # watchdog: a server that stops delivering is given up on
        await asyncio.wait([lanes], timeout=0.05)
        if not lanes.done() and progress.stuck():
            lanes.cancel()
            out.blocked = f"no frame received for {plan.stall_after:g}s: the server is blocked"
            with contextlib.suppress(asyncio.CancelledError):
                await lanes
    exc = None if out.blocked else lanes.exception()
    if exc is not None:
        out.blocked = f"{type(exc).__name__}: {rpc_error_text(exc)}"
    return out


def rpc_error_text(exc: BaseException) -> str:
    code = getattr(exc, "code", None)
    details = getattr(exc, "details", None)
    if callable(code) and callable(details):
        return f"{code()} {details()}"
    return str(exc)


@contextlib.asynccontextmanager
async def channel(server: Server) -> AsyncIterator[pb_grpc.NotificationGatewayStub]:
    """A gRPC stub for the server, or for a peer the publisher its users would use
    (peers.py), which answers the same `Publish` and `PublishBatch` calls."""
    if server.kind in peers.PEERS:
        publisher = peers.publisher(server.kind, server.http_port)
        try:
            yield publisher
        finally:
            await publisher.close()
        return
    options = [
        ("grpc.max_send_message_length", 64 << 20),
        ("grpc.max_receive_message_length", 64 << 20),
    ]
    async with aio.insecure_channel(f"{HOST}:{server.grpc_port}", options=options) as ch:
        yield pb_grpc.NotificationGatewayStub(ch)  # type: ignore[no-untyped-call]


async def warm_up(bench: Bench, stub: pb_grpc.NotificationGatewayStub, clients: int) -> None:
    """A few broadcasts so first-call costs stay out of the measurement."""
    await reset_receivers(bench, 1000)
    plan = Plan(broadcast_lanes(20, 1), 10, pad(100), clients, 0, time.monotonic() + 20, 5.0)
    await publish_batches(bench, stub, plan)
    await wait_received(bench, 20 * clients, time.monotonic() + 20, 5.0)
