"""The bench's peers (Node seed server, nchan): the table that compares them with the gateway,
the nchan publisher's reading of pipelined HTTP responses, CPU summed over a process tree."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time

from tests.support.helpers import ROOT

sys.path.insert(0, str(ROOT / "scripts"))

from benchkit.peer_report import peer_rows
from benchkit.peers import NchanPublisher, _read_response
from benchkit.servers import process_tree

from gateway.api.v1 import gateway_pb2 as pb


def test_the_table_gives_the_gateways_ratio_to_each_peer() -> None:
    def run(rate: float, cpu: float, frames: int, correct: bool = True) -> dict[str, object]:
        return {
            "notifications_per_s": rate,
            "correct": correct,
            "cpu": {"server_cpu_s": cpu},
            "detail": {"frames": frames},
        }

    results = {
        "peruser": {
            "gateway": run(40_000, 2.0, 100_000.0),  # medians of frames are floats
            "node": run(20_000, 2.5, 100_000),
            "nchan": run(10_000, 5.0, 100_000, correct=False),
        }
    }
    rows = {row["figure"]: row for row in peer_rows(results)}
    rate = rows["per-user delivered/s"]
    assert rate["gateway_ratio"]["node"] == 2.0
    assert rate["values"]["nchan"] is None  # messages lost: no figure, no ratio
    assert "nchan" not in rate["gateway_ratio"]
    cpu = rows["per-user server CPU µs/notification"]
    assert cpu["values"]["gateway"] == 20.0 and cpu["gateway_ratio"]["node"] == 0.8
    assert cpu["values"]["nchan"] is None  # nor its CPU


def test_pipelined_responses_are_read_one_by_one() -> None:
    async def main() -> list[tuple[int, str]]:
        reader = asyncio.StreamReader()
        reader.feed_data(
            b"HTTP/1.1 202 Accepted\r\nContent-Length: 5\r\n\r\nqueue"
            b"HTTP/1.1 201 Created\r\ncontent-length: 0\r\n\r\n"
            b"HTTP/1.1 500 Oops\r\nContent-Length: 2\r\n\r\nno"
        )
        out = []
        for _ in range(3):
            result = await _read_response(reader)
            out.append((result.code, result.message[:12]))
        return out

    assert asyncio.run(main()) == [(0, "HTTP/1.1 202"), (0, "HTTP/1.1 201"), (500, "HTTP/1.1 500")]


def test_unary_publishes_to_nchan_do_not_queue_behind_a_late_answer() -> None:
    # A steady publish is timed from its call: waiting for one of the batch's 4 connections
    # while nchan answers late would count against nchan. Unary publishes open another.
    async def main() -> tuple[int, int]:
        arrived = 0
        answer = asyncio.Event()

        async def late(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            nonlocal arrived
            while head := await reader.readuntil(b"\r\n\r\n"):
                length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
                await reader.readexactly(length)
                arrived += 1
                await answer.wait()
                writer.write(b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n")

        server = await asyncio.start_server(late, "127.0.0.1", 0)
        publisher = NchanPublisher(server.sockets[0].getsockname()[1])
        everyone = pb.Target(everyone=pb.Everyone())
        request = pb.PublishRequest(target=everyone, notification=pb.Notification(type="a.b"))
        calls = [asyncio.ensure_future(publisher.Publish(request, 5.0)) for _ in range(8)]
        for _ in range(200):
            if arrived == 8:
                break
            await asyncio.sleep(0.01)
        seen = arrived
        answer.set()
        results = await asyncio.gather(*calls)
        await publisher.close()
        server.close()
        return seen, sum(r.results[0].code == 0 for r in results)

    assert asyncio.run(main()) == (8, 8)


def test_a_servers_cpu_counts_its_children() -> None:
    parent = subprocess.Popen(
        [sys.executable, "-c", "import subprocess,sys; subprocess.run(['sleep', '5'])"]
    )
    try:
        deadline = time.monotonic() + 5
        while len(process_tree(parent.pid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(process_tree(parent.pid)) == 2
    finally:
        parent.kill()
        parent.wait()


def test_the_table_holds_servers_not_the_runs_comparisons() -> None:
    run = {"notifications_per_s": 100.0, "correct": True}
    results = {
        "peruser": {
            "gateway": run,
            "tree": {**run, "notifications_per_s": 50.0},
            "gateway_vs_tree": {"notifications_per_s": 2.0},
            "workers2_vs_1": {"notifications_per_s": 1.0},
            "runs": {"gateway": [run]},
        }
    }
    (rate, *_) = peer_rows(results)
    assert list(rate["values"]) == ["gateway", "tree"]
    assert rate["gateway_ratio"] == {"tree": 2.0}
