"""`POST /sse/ops`: the ops an SSE client sends, for the stream it names.

An `EventSource` only reads, so the ops a WebSocket client sends as text frames (subscribe,
unsubscribe, refresh, ping, and receipts' ack/read when on) are posted here instead:

    POST /sse/ops   {"stream": "<id from the welcome event>", "ops": [{"op": "subscribe", ...}]}

The stream id is the authentication: 128 random bits, sent only in the stream's own
`welcome` event, so only whoever reads the (authenticated) stream can act on it, and it
dies with the stream. It travels in the body, never in a URL. The same Origin allow-list
applies as for the stream. Each op is applied exactly as a WebSocket frame would be, and
its replies (`subscribed`, `error`, ...) arrive on the stream, in order; this answers 202
with how many were applied. A `text/plain` body keeps a cross-site `fetch` a simple request
(no preflight); any content type is read as JSON.

Why an endpoint rather than reconnecting with a new topic list: a reconnect re-runs
admission and a replay for every change, and acks (receipts) are frequent; an op here costs
one small request and applies in place.
"""

from __future__ import annotations

from typing import Any

import pydantic_core
from aiohttp import web

from gateway.auth import Denied, check_origin
from gateway.sse.edge import SseEdge, cors_headers

__all__ = ["MAX_OPS_PER_POST", "SseOpsRoutes"]

#: Ops one post may carry (the body is also bounded: GATEWAY_MAX_CLIENT_FRAME_BYTES).
MAX_OPS_PER_POST = 64


class SseOpsRoutes:
    def __init__(self, edge: SseEdge) -> None:
        self._edge = edge

    def routes(self) -> list[web.RouteDef]:
        return [web.post("/sse/ops", self.post)]

    async def post(self, request: web.Request) -> web.Response:
        edge = self._edge
        allowed = edge.policy.allowed_origins
        origin = request.headers.get("Origin")
        cors = cors_headers(origin, allowed)
        try:
            check_origin(origin, allowed)
        except Denied as exc:
            return _answer(403, {"error": "forbidden", "message": exc.reason}, {})
        body = await request.read()
        try:
            value = pydantic_core.from_json(body)
        except ValueError:
            message = 'the body must be JSON: {"stream": "<id>", "ops": [...]}'
            return _answer(400, {"error": "invalid_request", "message": message}, cors)
        stream, ops = _fields(value)
        if stream is None or ops is None:
            message = 'the body must be {"stream": "<id>", "ops": [<1 to 64 ops>]}'
            field = "stream" if stream is None else "ops"
            body_ = {"error": "invalid_request", "message": message, "field": field}
            return _answer(400, body_, cors)
        conn = edge.connection(stream)
        if conn is None or conn.closed:
            message = "no open stream has this id (it ended, or never was)"
            return _answer(404, {"error": "unknown_stream", "message": message}, cors)
        for op in ops:
            edge.ops.received_value(conn, op)
        edge.service.metrics.sse_ops += len(ops)
        return _answer(202, {"applied": len(ops)}, cors)


def _fields(value: Any) -> tuple[str | None, list[Any] | None]:
    if not isinstance(value, dict):
        return None, None
    stream = value.get("stream")
    ops = value.get("ops")
    stream = stream if isinstance(stream, str) and 0 < len(stream) <= 64 else None
    ops = ops if isinstance(ops, list) and 0 < len(ops) <= MAX_OPS_PER_POST else None
    return stream, ops


def _answer(status: int, body: dict[str, Any], headers: dict[str, str]) -> web.Response:
    return web.json_response(body, status=status, headers=headers)
