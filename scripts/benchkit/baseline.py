"""The naive baseline server: aiohttp + grpc.aio, as people write it.

Same `/ws?user_id=&topics=` URL and the same `Publish`/`PublishBatch` (the generated code in
gateway/api/v1) as the gateway; on each publish it does `for ws in clients: await
ws.send_str(payload)`. It validates nothing. Runs as `bench.py --serve-baseline`.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import signal
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from grpc import aio

from gateway.api.v1 import gateway_pb2 as pb
from gateway.api.v1 import gateway_pb2_grpc as pb_grpc

from . import HOST, uvloop_factory


def baseline_serve(http_port: int, grpc_port: int) -> None:
    with asyncio.Runner(loop_factory=uvloop_factory()) as runner:
        runner.run(_baseline_main(http_port, grpc_port))


async def _baseline_main(http_port: int, grpc_port: int) -> None:
    """aiohttp + grpc.aio, as people write it: one `await ws.send_str()` per delivery."""
    clients: set[web.WebSocketResponse] = set()
    by_user: dict[str, set[web.WebSocketResponse]] = {}
    by_topic: dict[str, set[web.WebSocketResponse]] = {}
    cursors = itertools.count(1)

    async def websocket(request: web.Request) -> web.StreamResponse:
        user_id = request.query.get("user_id", "")
        if not user_id:
            return web.json_response({"error": "user_id is required"}, status=400)
        topics = [t for t in request.query.get("topics", "").split(",") if t]
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        clients.add(ws)
        by_user.setdefault(user_id, set()).add(ws)
        for topic in topics:
            by_topic.setdefault(topic, set()).add(ws)
        try:
            await ws.send_str(json.dumps({"event": "welcome", "user_id": user_id}))
            async for _ in ws:
                pass
        finally:
            clients.discard(ws)
            by_user.get(user_id, set()).discard(ws)
            for topic in topics:
                by_topic.get(topic, set()).discard(ws)
        return ws

    async def healthz(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    class Servicer(pb_grpc.NotificationGatewayServicer):
        async def _publish(self, request: pb.PublishRequest) -> pb.PublishResponse:
            kind = request.target.WhichOneof("kind")
            if kind == "everyone":
                recipients = list(clients)
            elif kind == "topic":
                recipients = list(by_topic.get(request.target.topic, ()))
            else:
                recipients = [
                    ws for u in request.target.users.user_ids for ws in by_user.get(u, ())
                ]
            n = request.notification
            cursor = str(next(cursors))
            nid = n.id or os.urandom(16).hex()
            payload = json.dumps(
                {
                    "event": "notification",
                    "cursor": cursor,
                    "notification": {
                        "id": nid,
                        "type": n.type,
                        "title": n.title,
                        "body": n.body,
                        "data": json.loads(n.data_json) if n.data_json else {},
                        "priority": "normal",
                        "created_at": datetime.now(UTC).isoformat(),
                    },
                },
                separators=(",", ":"),
            )
            for ws in recipients:  # the classic broadcast loop
                with contextlib.suppress(ConnectionResetError):
                    await ws.send_str(payload)
            return pb.PublishResponse(id=nid, cursor=cursor, delivered=len(recipients))

        async def Publish(self, request: pb.PublishRequest, context: Any) -> pb.PublishResponse:
            return await self._publish(request)

        async def PublishBatch(
            self, request: pb.PublishBatchRequest, context: Any
        ) -> pb.PublishBatchResponse:
            results = []
            for item in request.requests:
                r = await self._publish(item)
                results.append(pb.PublishResult(id=r.id, cursor=r.cursor, delivered=r.delivered))
            return pb.PublishBatchResponse(results=results)

    server = aio.server()
    pb_grpc.add_NotificationGatewayServicer_to_server(Servicer(), server)  # type: ignore[no-untyped-call]
    server.add_insecure_port(f"{HOST}:{grpc_port}")
    await server.start()
    app = web.Application()
    app.add_routes([web.get("/ws", websocket), web.get("/healthz", healthz)])
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    await web.TCPSite(runner, HOST, http_port, backlog=4096).start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await server.stop(0)
    await runner.cleanup()
