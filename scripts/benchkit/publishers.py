"""Several publisher processes, each with its own gRPC channel, sending unary Publish calls.

How backends publish: many processes, one notification per call. Each process runs
`lanes` lanes (one call in flight each); lane numbers are global, so the receivers check
each lane's order as usual. The window is shared: a process counts the receivers' frames
(shared counters) against every process's sends (shared counters too).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

from . import HOST, uvloop_factory
from .load import Bench

#: The parent's view of one publisher process when it ends.
Result = dict[str, Any]


def _main(*args: Any) -> None:
    """A publisher process: `_publish`'s arguments, then the queue its result goes to."""
    *publish_args, results = args
    with asyncio.Runner(loop_factory=uvloop_factory()) as runner:
        results.put(runner.run(_publish(*publish_args)))


async def _publish(
    port: int,
    lanes: list[tuple[int, int]],
    padding: str,
    fanout: float,
    window: int,
    deadline_in: float,
    received: list[Any],
    sent: list[Any],
    me: int,
    ready: list[Any],
    start: Any,
) -> Result:
    from grpc import aio

    from gateway.api.v1 import gateway_pb2 as pb
    from gateway.api.v1 import gateway_pb2_grpc as pb_grpc

    from .publish import everyone, request, rpc_error_text

    target = everyone()
    out: Result = {"sent": 0, "first_send": 0.0, "last_ack": 0.0, "blocked": ""}
    async with aio.insecure_channel(f"{HOST}:{port}") as ch:
        stub = pb_grpc.NotificationGatewayStub(ch)  # type: ignore[no-untyped-call]
        warm = pb.PublishRequest(  # reaches no one: nobody follows the topic
            target=pb.Target(topic="warm-up"), notification=pb.Notification(type="bench.warm")
        )
        await stub.Publish(warm)
        ready[me].value = 1
        while True:  # every process connected before any publishes
            if start.is_set():
                break
            await asyncio.sleep(0.001)
        deadline = time.monotonic() + deadline_in

        async def lane(index: int, count: int) -> None:
            for seq in range(count):
                while window:
                    in_flight = sum(v.value for v in sent) - sum(v.value for v in received) / fanout
                    if in_flight < window:
                        break
                    if time.monotonic() > deadline:
                        raise TimeoutError("receivers made no progress before the deadline")
                    await asyncio.sleep(0.001)
                ts = time.time()
                if not out["first_send"]:
                    out["first_send"] = ts
                sent[me].value += 1
                out["sent"] += 1
                timeout = max(0.1, deadline - time.monotonic())
                await stub.Publish(request(target, ts, index, seq, padding), timeout=timeout)
                out["last_ack"] = time.time()

        try:
            await asyncio.gather(*(lane(i, n) for i, n in lanes))
        except Exception as exc:
            out["blocked"] = f"{type(exc).__name__}: {rpc_error_text(exc)}"
    return out


async def publish_from_processes(
    bench: Bench,
    port: int,
    procs: int,
    lanes_per_proc: int,
    count: int,
    padding: str,
    fanout: float,
    window: int,
    seconds: float,
) -> Result:
    """`count` broadcasts over `procs` x `lanes_per_proc` lanes; the processes' results merged."""
    import multiprocessing as mp

    ctx = mp.get_context("spawn")
    total = procs * lanes_per_proc
    per_lane = [len(range(i, count, total)) for i in range(total)]
    start = ctx.Event()
    results = ctx.Queue()
    sent = [ctx.RawValue("q", 0) for _ in range(procs)]
    ready = [ctx.RawValue("q", 0) for _ in range(procs)]
    received = [rx.counter for rx in bench.receivers]
    workers = []
    for p in range(procs):
        lanes = [(i, per_lane[i]) for i in range(p * lanes_per_proc, (p + 1) * lanes_per_proc)]
        args = (
            port,
            lanes,
            padding,
            fanout,
            window,
            seconds,
            received,
            sent,
            p,
            ready,
            start,
            results,
        )
        workers.append(ctx.Process(target=_main, args=args, name=f"bench-pub{p}", daemon=True))
    for w in workers:
        w.start()
    loop = asyncio.get_running_loop()
    until = time.monotonic() + 30
    while True:
        if all(r.value for r in ready) or time.monotonic() > until:
            break
        await asyncio.sleep(0.01)
    start.set()
    outs = [await loop.run_in_executor(None, results.get, True, seconds + 30) for _ in workers]
    for w in workers:
        await loop.run_in_executor(None, w.join, 10)
        with contextlib.suppress(Exception):
            w.kill()
    return {
        "sent": sum(o["sent"] for o in outs),
        "first_send": min(o["first_send"] for o in outs if o["first_send"]),
        "last_ack": max(o["last_ack"] for o in outs),
        "blocked": "; ".join(o["blocked"] for o in outs if o["blocked"]),
    }
