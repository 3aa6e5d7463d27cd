"""The bench's C load client (scripts/benchkit/crecv*.c) against a real gateway, beside the
Python one (each test runs with both).

The per-user and receipts scenarios run on it by default, so it must be as strict as the
Python receiver: every user's notifications counted, a lost or reordered one caught, pings
answered, acks sent as the SDKs send them (the gateway applies them: receipts turn
delivered), the server's close frames recorded.
"""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import sys
import time
import urllib.request
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.support.helpers import ROOT
from tests.support.waiting import until

sys.path.insert(0, str(ROOT / "scripts"))

from benchkit.creceiver import CReceiverHandle, build
from benchkit.load import Handle
from benchkit.payload import pad
from benchkit.publish import channel, request
from benchkit.receiver import ReceiverHandle
from benchkit.servers import Server, start_server, stop_server

from gateway.api.v1 import gateway_pb2 as pb

USERS = 3


@pytest.fixture
async def gateway(tmp_path: Path) -> AsyncIterator[Server]:
    # pings every 0.2 s: a connection whose pongs the gateway did not take would be dropped
    server = await start_server(
        "receipts", tmp_path / "gateway.log", ["--heartbeat-seconds", "0.2"], None
    )
    try:
        yield server
    finally:
        await stop_server(server)


@pytest.fixture(params=["c", "python"])
async def client(request: pytest.FixtureRequest) -> AsyncIterator[Handle]:
    """Each test runs with both load clients: the C one must see what the Python one sees."""
    handle: Handle
    if request.param == "c":
        handle = CReceiverHandle(0, build())
    else:
        handle = ReceiverHandle(mp.get_context("spawn"), 0)
    try:
        yield handle
    finally:
        await handle.call("exit", wait=10)
        handle.stop()


async def connected(client: Handle, server: Server) -> None:
    specs = [(f"u{u}", "") for u in range(USERS)]
    reply = await client.call(
        "connect", port=server.http_port, specs=specs, concurrency=2, budget=10.0
    )
    assert (reply["ok"], reply["failed"], reply["errors"]) == (USERS, 0, {})
    assert reply["t1"] >= reply["t0"] > 0


async def publish(server: Server, sends: list[tuple[int, int]]) -> None:
    """(user, seq) in this order, all on lane 0, as one PublishBatch."""
    padding = pad(150)
    async with channel(server) as stub:
        batch = pb.PublishBatchRequest(
            requests=[
                request(pb.Target(users=pb.UserIds(user_ids=[f"u{u}"])), time.time(), 0, s, padding)
                for u, s in sends
            ]
        )
        response = await stub.PublishBatch(batch, timeout=10)
    assert [r.code for r in response.results] == [0] * len(sends)


async def received(client: Handle, count: int) -> dict[str, object]:
    """The report once `count` notification frames arrived (the shared counter says so)."""
    await until(lambda: client.counter.value >= count, 10.0, f"{count} frames received")
    await asyncio.sleep(0.1)  # nothing more arrives
    report: dict[str, object] = await client.call("report")
    return report


def acked(server: Server) -> int:
    """Notifications the gateway saw acked (its publish-to-ack histogram's count)."""
    url = f"http://127.0.0.1:{server.http_port}/metrics"
    text = urllib.request.urlopen(url, timeout=5).read().decode()
    return sum(
        int(float(line.split()[-1]))
        for line in text.splitlines()
        if line.startswith("gateway_delivery_seconds_count")
    )


async def acked_reaches(server: Server, count: int, within: float) -> bool:
    """Whether the gateway saw `count` notifications acked within `within` seconds."""
    try:
        await until(lambda: acked(server) >= count, within, every=0.05)
    except AssertionError:
        return False
    return True


async def test_counts_every_users_notifications_in_order(gateway: Server, client: Handle) -> None:
    await connected(client, gateway)
    await asyncio.sleep(0.6)  # three heartbeats: the pongs kept the connections
    await client.call("reset", sample=1)
    if isinstance(client, CReceiverHandle):
        await client.call("nap", us=2000)  # waits before reading: nothing is missed
    await publish(gateway, [(0, 0), (1, 0), (0, 1), (2, 0), (0, 2), (1, 1)])
    report = await received(client, 6)
    assert report["counts"] == [3, 2, 1]
    assert report["frames"] == 6
    assert report["order_errors"] == 0 and report["bad_samples"] == 0
    assert report["unexpected_lost"] == 0 and report["close_codes"] == {}
    lat = report["lat"]
    assert isinstance(lat, list) and len(lat) == 6 and all(0 <= ms < 5000 for ms in lat)


async def test_a_lost_or_reordered_notification_is_caught(gateway: Server, client: Handle) -> None:
    await connected(client, gateway)
    await client.call("reset", sample=1)
    # u0 misses seq 1 (one short, and a gap); u1 gets 1 before 0; u2 is in order
    await publish(gateway, [(0, 0), (0, 2), (1, 1), (1, 0), (2, 0), (2, 1)])
    report = await received(client, 6)
    assert report["counts"] == [2, 2, 2]  # the bench compares each with what was owed
    assert report["order_errors"] == 3  # u0: 2 after 0; u1: 1 first, then 0 after 1
    # sampled every 10th frame: only a sequence going backwards is an error
    await client.call("reset", sample=10)
    await publish(gateway, [(0, s) for s in range(10)] + [(0, 5)] + [(0, s) for s in range(11, 20)])
    report = await received(client, 20)
    assert report["counts"] == [20, 0, 0] and report["order_errors"] == 0
    assert len(report["lat"]) == 2  # type: ignore[arg-type]


async def test_acks_as_the_sdks_do_and_the_gateway_applies_them(
    gateway: Server, client: Handle
) -> None:
    await connected(client, gateway)
    await client.call("reset", sample=1)
    await client.call("acks", on=True, seconds=2.0)
    start = time.monotonic()
    await publish(gateway, [(0, 0), (1, 0), (2, 0)])
    await received(client, 3)
    # each connection's first: acked at once (the leading edge), not 2 s later
    assert await acked_reaches(gateway, 3, within=0.5)
    await publish(gateway, [(0, 1), (0, 2), (0, 3)])  # within u0's interval: owed
    await received(client, 6)
    assert acked(gateway) == 3
    # one trailing ack, 2 s after u0's last, covers the three
    assert await acked_reaches(gateway, 6, within=3.0)
    assert time.monotonic() - start >= 1.95
    await publish(gateway, [(1, 1)])  # u1 sent no ack for over 2 s: at once
    await received(client, 7)
    assert await acked_reaches(gateway, 7, within=0.5)
    # a long interval: only the 100th notification owed sends an ack before it
    await client.call("acks", on=True, seconds=60.0)
    await publish(gateway, [(0, s) for s in range(4, 103)])
    await received(client, 106)
    assert not await acked_reaches(gateway, 8, within=0.5)  # 99 owed: no ack yet
    await publish(gateway, [(0, 103)])
    await received(client, 107)
    assert await acked_reaches(gateway, 107, within=5.0)
    await publish(gateway, [(2, 1)])  # u2 acked within the 60 s: owed
    await received(client, 108)
    assert not await acked_reaches(gateway, 108, within=0.3)
    await client.call("flush_acks")  # what the bench sends before reading the histogram
    assert await acked_reaches(gateway, 108, within=5.0)
    report = await client.call("report")
    assert report["order_errors"] == 0 and report["unexpected_lost"] == 0
    assert report["close_codes"] == {}  # the gateway took every ack frame (masked, valid)
    # three leading, the burst's trailing one, u1's leading, the 100th owed, the flush
    assert report["acks_sent"] == 7


async def test_the_servers_close_frames_are_recorded(gateway: Server, client: Handle) -> None:
    await connected(client, gateway)
    await client.call("reset", sample=1)
    await stop_server(gateway)  # a draining gateway closes every connection with 1001
    report = await client.call("report")
    assert report["close_codes"] == {1001: USERS}
    assert report["unexpected_lost"] == 0
    assert await client.call("close") == USERS
