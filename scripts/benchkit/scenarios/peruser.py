"""Scenario 3, per-user volume: U users, K notifications each addressed to one user.

Sent with PublishBatch; user u's notifications all travel on one lane, so each user must
receive its own in order. Figures: notifications/s delivered, publishes acked/s, correctness.
"""

from __future__ import annotations

import argparse
import time

from gateway.api.v1 import gateway_pb2 as pb

from .. import Metrics
from ..load import (
    Bench,
    connect,
    cpu_figures,
    gather_report,
    mismatches,
    reset,
    specs,
    wait_received,
)
from ..payload import pad
from ..publish import Lane, Plan, channel, publish_batches
from ..servers import Server
from ..stats import per_second


def title(a: argparse.Namespace) -> str:
    return (
        f"3. per-user volume: {a.users} users, {a.user_notifications} notifications "
        f"one user each, PublishBatch {a.user_batch} x {a.lanes} lanes"
    )


async def run(bench: Bench, server: Server) -> Metrics:
    a = bench.args
    users, k = a.users, a.user_notifications
    conn = await connect(bench, server, specs("u", users))
    targets = [pb.Target(users=pb.UserIds(user_ids=[f"u{u}"])) for u in range(users)]
    # Notification i goes to user i % users, on the lane that user belongs to, so that each
    # user's notifications come from one lane in order: its seq is i // users.
    lanes: list[Lane] = [[] for _ in range(a.lanes)]
    for i in range(k):
        u = i % users
        lanes[u % a.lanes].append((targets[u], i // users))
    expected = [k // users + (1 if u < k % users else 0) for u in range(users)]
    async with channel(server) as stub:
        mark = await reset(bench, server, 1)
        deadline = time.monotonic() + a.timeout
        plan = Plan(
            lanes, a.user_batch, pad(a.payload_bytes), 1.0, a.user_window, deadline, a.stall_after
        )
        out = await publish_batches(bench, stub, plan)
        complete = await wait_received(bench, sum(expected), deadline, a.stall_after)
    rep = await gather_report(bench)
    wall = max(0.0, rep["last_rx"] - out.first_send)
    m: Metrics = {"connections": conn["ok"], "connect": conn}
    m["notifications_per_s"] = per_second(rep["frames"], wall)
    m["publish_acked_per_s"] = per_second(out.sent, out.last_ack - out.first_send)
    wrong = mismatches(rep["counts"], expected)
    m["correct"] = (
        complete
        and not wrong
        and rep["order_errors"] == 0
        and not out.errors
        and not out.blocked
        and conn["ok"] == users
    )
    m["detail"] = {
        "frames": rep["frames"],
        "expected": sum(expected),
        "users_with_wrong_count": wrong,
        "order_errors": rep["order_errors"],
        "publish_errors": out.errors,
        "publish_error_samples": out.error_samples,
        "blocked": out.blocked,
    }
    m["cpu"] = cpu_figures(bench, server, mark, rep, wall, f"peruser/{server.kind}")
    return m
