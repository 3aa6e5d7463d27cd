"""The per-user publish pipeline in one process, stage by stage, for callgrind.

`scripts/profile-publish` runs this under `valgrind --tool=callgrind --dump-before=getppid`:
each `os.getppid()` below is a marker (libc's getppid, which nothing else here calls), so
callgrind writes one dump per stage and the instructions between two markers are that
stage's. Wall clock cannot resolve a few percent on a shared 2-core machine; instruction
counts can, and they are the same from run to run.

The pipeline is the one a `PublishBatch` of per-user notifications takes on the memory
backend, without the sockets: the request's bytes are decoded, translated and validated,
published (encode, fingerprint and idempotency, log append, fan-out to one connection
each), the response is built and serialized, and the flush writes each connection's
frames to a transport that only counts them (the kernel's send() is not ours to cut).

Printed: instructions per notification for each stage, and for the pieces inside
`publish_many` measured apart (encode, fingerprint, fan-out), which the stage includes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import sys
from collections.abc import Coroutine, Iterable
from pathlib import Path
from typing import Any, TypeVar

_ROOT = Path(__file__).resolve().parents[2]
# The gateway from the repository root; benchkit as `benchkit`, the name scripts/bench.py
# imports it by (one module name each, for mypy too).
for _path in (_ROOT, _ROOT / "scripts"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

from gateway.api.v1 import gateway_pb2 as pb  # noqa: E402
from gateway.connection.connection import Connection, ConnectionContext  # noqa: E402
from gateway.connection.outgoing import Outgoing, TransportKind  # noqa: E402
from gateway.flush import FlushScheduler  # noqa: E402
from gateway.gc_policy import settle  # noqa: E402
from gateway.grpc.servicer import GatewayServicer  # noqa: E402
from gateway.hub import Hub  # noqa: E402
from gateway.log.base import local_fingerprint  # noqa: E402
from gateway.log.memory import MemoryLog  # noqa: E402
from gateway.models import encode_notification  # noqa: E402
from gateway.service import NotificationService  # noqa: E402

#: The stages in pipeline order, then the pieces of `publish` measured apart.
STAGES = ("decode", "handler", "translate", "publish", "response", "flush")
PIECES = ("encode", "fingerprint", "fanout")

T = TypeVar("T")


class CountingTransport:
    """A WebSocket transport (and its byte stream) that keeps only the count of writes."""

    kind: TransportKind = "ws"
    answers_pings = True

    def __init__(self) -> None:
        self.writes = 0

    def write(self, chunks: list[bytes]) -> None:
        self.writes += 1

    def sink(self) -> CountingTransport:
        return self

    def writelines(self, list_of_data: Iterable[bytes], /) -> None:
        self.writes += 1

    def get_write_buffer_size(self) -> int:
        return 0

    def buffered(self) -> int:
        return 0

    def is_closing(self) -> bool:
        return False

    def close(self, code: int, reason: str) -> None:
        pass

    def abort(self) -> None:
        pass


#: The label of each marker in order (the stage that ends there), read by the wrapper.
LABELS: list[str] = []


def mark(label: str) -> None:
    """The end of stage `label`: callgrind dumps its counters before libc's getppid."""
    LABELS.append(label)
    os.getppid()


def finish(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine that never suspends (the memory log's) without an event loop pass."""
    try:
        coro.send(None)
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]
    raise RuntimeError("the coroutine suspended")


def batch_bytes(users: int, size: int, start: int, payload_bytes: int) -> bytes:
    """A PublishBatchRequest of `size` notifications, one per user, as a publisher sends it."""
    pad = "x" * max(0, payload_bytes - 56)
    requests = []
    for i in range(start, start + size):
        data = f'{{"ts":1765000000.{i % 1000000:06d},"lane":0,"seq":{i},"pad":"{pad}"}}'
        requests.append(
            pb.PublishRequest(
                target=pb.Target(users=pb.UserIds(user_ids=[f"u{i % users}"])),
                notification=pb.Notification(type="bench.event", data_json=data),
            )
        )
    return pb.PublishBatchRequest(requests=requests).SerializeToString()


def _type_registry() -> Any:
    """The `types` bench scenario's registry: 50 types, `bench.event` among them, strict."""
    from benchkit.type_registry import write_registry
    from gateway.types import TypeRegistry, load_registry

    return TypeRegistry(load_registry(write_registry()), "strict")


class _Context:
    async def abort(self, code: Any, details: str) -> None:
        raise RuntimeError(f"{code}: {details}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--users", type=int, default=2000, help="connected users, one connection each"
    )
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--batches", type=int, default=4, help="measured batches")
    parser.add_argument("--payload-bytes", type=int, default=100)
    parser.add_argument(
        "--types",
        action="store_true",
        help="with the bench's 50-type registry in strict mode (the type registry, issue 16)",
    )
    parser.add_argument(
        "--report",
        type=Path,
        metavar="DIR",
        help="read the callgrind dumps in DIR (and DIR/labels.json) and print the table",
    )
    args = parser.parse_args(argv)
    if args.report is not None:
        return report(args.report)

    loop = asyncio.new_event_loop()  # never run: the scheduler only needs call_soon
    scheduler = FlushScheduler(loop)
    service = NotificationService(
        MemoryLog(max_entries=100_000),
        Hub(),
        scheduler,
        max_notification_bytes=64 * 1024,
        max_connections=1_000_000,
        max_connections_per_user=8,
        types=_type_registry() if args.types else None,
    )
    finish(service.start())  # the memory log's listener: the service
    transport = CountingTransport()
    context = ConnectionContext(scheduler, 1 << 20, service.detach, service.metrics)
    for u in range(args.users):
        conn = Connection(f"u{u}", (), transport, context)
        service.hub.add(conn)
        conn.start([])  # no longer held: live items are flushed
    servicer = GatewayServicer(service)
    grpc_context: Any = _Context()
    # warm-up: every user addressed once before the measured batches (as in a long run,
    # where each user's target was seen before), then the measured ones
    warm = -(-args.users // args.batch)
    payloads = [
        batch_bytes(args.users, args.batch, b * args.batch, args.payload_bytes)
        for b in range(warm + args.batches)
    ]

    # publish_inputs and publish_many wrapped once per batch, so their stages show apart
    from gateway.grpc import servicer as servicer_py
    from gateway.grpc.translate import BATCH_FROM_BYTES, batch_inputs
    from gateway.grpc.translate import publish_inputs as translate

    # the servicer module's own name is the one its handler calls; patched, so untyped
    servicer_module: Any = servicer_py
    publish_many = service.publish_many
    measuring = False

    def translated(requests: Any) -> Any:
        if measuring:
            mark("handler")
        outcome = translate(requests)
        if measuring:
            mark("translate")
        return outcome

    def translated_bytes(data: bytes) -> Any:
        # with the compiled module the bytes are read and translated in one call (C):
        # its decode and translate are both in "translate", "decode" is empty
        if measuring:
            mark("handler")
        outcome = batch_inputs(data)
        if measuring:
            mark("translate")
        return outcome

    async def published(items: Any) -> Any:
        if measuring:
            mark("handler")
        outcome = await publish_many(items)
        if measuring:
            mark("publish")
        return outcome

    servicer_module.publish_inputs = translated
    servicer_module.batch_inputs = translated_bytes
    service.publish_many = published  # type: ignore[method-assign]

    def one(raw: bytes) -> None:
        if BATCH_FROM_BYTES:
            if measuring:
                mark("decode")
            # the method the server registers: bytes in, the serialized response out
            finish(servicer.publish_batch_bytes(raw, grpc_context))
        else:
            request = pb.PublishBatchRequest.FromString(raw)
            if measuring:
                mark("decode")
            finish(servicer.publish_batch_encoded(request, grpc_context))
        if measuring:
            mark("response")
        scheduler.flush()
        if measuring:
            mark("flush")

    for raw in payloads[:warm]:
        one(raw)
    settle()  # the collector as the server runs it (GcPolicy: frozen, its young threshold)
    mark("setup")
    measuring = True
    for raw in payloads[warm:]:
        one(raw)
    measuring = False
    # the pieces inside publish_many, apart, on inputs made outside the markers
    request = pb.PublishBatchRequest.FromString(batch_bytes(args.users, args.batch, 10**7, 100))
    inputs = [i for i in translate(request.requests) if not isinstance(i, Exception)]
    bodies = [encode_notification(i.notification) for i in inputs]
    mark("setup")
    for item in inputs:
        encode_notification(item.notification)
    mark("encode")
    for item, body in zip(inputs, bodies, strict=True):
        local_fingerprint(item.target, body)
    mark("fingerprint")
    for n, (item, body) in enumerate(zip(inputs, bodies, strict=True)):
        service.hub.deliver(item.target, Outgoing.notification(f"x-{n}", body))
    mark("fanout")
    scheduler.flush()
    mark("setup")
    notifications = args.batch * args.batches
    measured = {"labels": LABELS, "measured": notifications, "piece": len(inputs)}
    print(json.dumps({**measured, "writes": transport.writes}))
    return 0


def stage_totals(folder: Path) -> tuple[dict[str, Any], dict[str, int]] | None:
    """The run's `labels.json` and the instructions counted under each label, from
    callgrind's numbered dumps (one per marker, in order); None (said on stderr) when
    dumps are missing. Shared with `receipt_stages`."""
    meta: dict[str, Any] = json.loads((folder / "labels.json").read_text())
    labels: list[str] = meta["labels"]
    dumps = sorted(
        (p for p in folder.glob("callgrind.out.*") if p.name.rsplit(".", 1)[-1].isdigit()),
        key=lambda p: int(p.name.rsplit(".", 1)[-1]),
    )
    if len(dumps) < len(labels):
        print(f"{len(dumps)} dumps for {len(labels)} markers", file=sys.stderr)
        return None
    totals: dict[str, int] = {}
    for label, dump in zip(labels, dumps, strict=False):
        text = dump.read_text(errors="replace")
        found = re.search(r"^(?:totals|summary): (\d+)", text, re.M)
        totals[label] = totals.get(label, 0) + (int(found.group(1)) if found else 0)
    return meta, totals


def report(folder: Path) -> int:
    """Instructions per notification for each stage, from callgrind's numbered dumps."""
    counted = stage_totals(folder)
    if counted is None:
        return 1
    meta, totals = counted
    per = {label: totals[label] / meta["measured"] for label in STAGES if label in totals}
    print(f"{'stage':<12} {'instructions per notification':>30}")
    for label, value in per.items():
        print(f"{label:<12} {value:>30,.0f}")
    print(f"{'total':<12} {sum(per.values()):>30,.0f}")
    print("inside publish, measured apart:")
    for label in PIECES:
        print(f"  {label:<10} {totals.get(label, 0) / meta['piece']:>30,.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
