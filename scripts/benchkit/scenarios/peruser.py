"""Scenario 3, per-user volume: U users, K notifications each addressed to one user.

Sent with PublishBatch; user u's notifications all travel on one lane, so each user must
receive its own in order. Figures: notifications/s delivered, publishes acked/s, correctness.
"""

from __future__ import annotations

import argparse
import time
from typing import Any, NamedTuple

from gateway.api.v1 import gateway_pb2 as pb

from .. import Metrics
from ..load import (
    Bench,
    Mark,
    connect,
    cpu_figures,
    gather_report,
    mismatches,
    reset,
    specs,
    wait_received,
)
from ..payload import pad
from ..publish import Lane, Outcome, Plan, channel, publish_batches
from ..servers import Server
from ..stats import per_second


def title(a: argparse.Namespace) -> str:
    return (
        f"3. per-user volume: {a.users} users, {a.user_notifications} notifications "
        f"one user each, PublishBatch {a.user_batch} x {a.lanes} lanes"
    )


class PerUser(NamedTuple):
    """One per-user measurement, from the publishes to the receivers' report."""

    out: Outcome
    rep: dict[str, Any]
    #: How many notifications each user must receive.
    expected: list[int]
    #: Whether every one of them arrived before the deadline (no stall).
    complete: bool
    mark: Mark
    wall: float
    #: The server's CPU seconds (`Server.cpu()`) when the last frame had arrived: the end
    #: of the measured window (receipts charges what the server spends after it).
    end_cpu: float

    @property
    def wrong(self) -> int:
        """Users that received a count other than expected."""
        return mismatches(self.rep["counts"], self.expected)


async def publish_per_user(bench: Bench, server: Server, count: int | None = None) -> PerUser:
    """The per-user load (this scenario's, `types`' and `receipts`'): `count` notifications
    (`--user-notifications` unless given), each to one of `--users` users (already
    connected), PublishBatch on `--lanes` lanes."""
    a = bench.args
    users = a.users
    k = a.user_notifications if count is None else count
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
        end_cpu = server.cpu()
    rep = await gather_report(bench)
    wall = max(0.0, rep["last_rx"] - out.first_send)
    return PerUser(out, rep, expected, complete, mark, wall, end_cpu)


async def run(bench: Bench, server: Server) -> Metrics:
    users = bench.args.users
    conn = await connect(bench, server, specs("u", users))
    measured = await publish_per_user(bench, server)
    out, rep, expected, wall = measured.out, measured.rep, measured.expected, measured.wall
    m: Metrics = {"connections": conn["ok"], "connect": conn}
    m["notifications_per_s"] = per_second(rep["frames"], wall)
    m["publish_acked_per_s"] = per_second(out.sent, out.last_ack - out.first_send)
    wrong = measured.wrong
    m["correct"] = (
        measured.complete
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
    m["cpu"] = cpu_figures(bench, server, measured.mark, rep, wall, f"peruser/{server.kind}")
    return m
