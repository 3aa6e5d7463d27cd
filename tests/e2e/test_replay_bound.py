"""A replay is held to GATEWAY_SEND_BUFFER_BYTES like live frames: written as the socket drains.

A client that resumes with an old `since` and stops reading must not make the gateway
queue its whole replay; one that reads gets all of it, in order, and live frames after.
"""

from __future__ import annotations

import asyncio
import gc
import json

from grpc import aio

from gateway.api.v1 import gateway_pb2 as pb
from gateway.api.v1 import gateway_pb2_grpc as pb_grpc
from gateway.app import Gateway
from gateway.connection.outbox import REPLAY_BATCH_BYTES
from tests.support.gateway import StartGateway
from tests.support.helpers import request, users
from tests.support.waiting import until
from tests.support.wsraw import (
    CLOSE,
    TEXT,
    RawClient,
    close_payload,
    frame,
    small_window_socket,
    still_served,
    upgrade,
)

LIMIT = 64 * 1024


def _rss_kib() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


async def _publish(gateway: Gateway, user_id: str, count: int, size: int) -> list[str]:
    """`count` notifications of about `size` bytes for `user_id`; their cursors."""
    cursors: list[str] = []
    async with aio.insecure_channel(f"127.0.0.1:{gateway.grpc_port}") as channel:
        stub = pb_grpc.NotificationGatewayStub(channel)
        for start in range(0, count, 100):
            batch = pb.PublishBatchRequest(
                requests=[
                    request(users(user_id), "history.item", body="x" * size)
                    for _ in range(min(100, count - start))
                ]
            )
            reply = await stub.PublishBatch(batch)
            cursors.extend(result.cursor for result in reply.results)
    return cursors


async def _read_to_4008(client: RawClient) -> None:
    """What a stalled resuming client finds once it reads: its 101, the start of the
    replay, and the close frame with 4008."""
    head = await asyncio.wait_for(client.reader.readuntil(b"\r\n\r\n"), 3)
    assert head.startswith(b"HTTP/1.1 101 ")
    assert (await client.event())["event"] == "welcome"
    resumed = await client.event()
    assert resumed["event"] == "resumed" and resumed["replayed"] == 1500, resumed
    assert (await client.closed_with(timeout=10))[0] == 4008
    client.close()


async def test_stalled_resuming_clients_hold_a_bounded_replay_then_get_4008(
    start_gateway: StartGateway,
) -> None:
    gateway = await start_gateway(send_buffer_bytes=LIMIT)
    since = str(gateway.log.head())
    await _publish(gateway, "resumer", 1500, 10_000)  # ~15 MB of history to replay
    gc.collect()
    rss_before = _rss_kib()
    stalled = []
    for _ in range(8):
        reader, writer = await small_window_socket(gateway.http_port)
        writer.transport.pause_reading()  # and it never reads
        writer.write(upgrade(f"/ws?user_id=resumer&since={since}"))
        stalled.append((reader, writer))
    await until(lambda: len(gateway.edge.connections) == 8)
    await asyncio.sleep(0.5)  # the replays go as far as the sockets take them
    for conn in gateway.edge.connections:
        # a batch in the transport at most (and one frame past it), never the replay
        assert conn.transport.buffered() <= 2 * REPLAY_BATCH_BYTES + 11_000
    growth = _rss_kib() - rss_before
    # queued whole, the ~11 MB of each replay the kernel does not take would be ~90 MB
    assert growth < 16 * 1024, f"RSS grew by {growth} KiB"

    # live frames due on top of a stalled replay: over the limit, the reader is too slow
    await _publish(gateway, "resumer", 100, 1000)
    await until(lambda: gateway.service.metrics.slow_clients_closed == 8)
    for _, writer in stalled:
        writer.transport.resume_reading()  # within CLOSE_TIMEOUT, or the socket is dropped
    await asyncio.gather(*(_read_to_4008(RawClient(reader, writer)) for reader, writer in stalled))
    await still_served(gateway)


async def test_a_replay_larger_than_the_buffer_arrives_whole_before_live_frames(
    start_gateway: StartGateway,
) -> None:
    gateway = await start_gateway(send_buffer_bytes=LIMIT)
    since = str(gateway.log.head())
    history = await _publish(gateway, "reader", 400, 10_000)  # 4 MB: 60 times the limit
    client = await RawClient.open(gateway.http_port, "reader", f"&since={since}")
    resumed = await client.event()
    assert resumed == {"event": "resumed", "since": since, "complete": True, "replayed": 400}
    received: list[str] = []
    live: list[str] = []
    while len(received) < len(history) + 5:
        if len(received) == 10:  # published while the replay is being written
            live = await _publish(gateway, "reader", 5, 10)
        opcode, payload = await client.frame(timeout=5)
        assert opcode == TEXT
        event = json.loads(payload)
        assert event["event"] == "notification", event
        received.append(event["cursor"])
    assert received == history + live  # the replay in order, then live: no gap, no repeat
    client.send(frame(CLOSE, close_payload(1000)))
    assert await client.closed_with() == (1000, "")
    client.close()
