"""A real browser's own `EventSource` on `/sse`, with no client library: Chromium reads the
named events, and when the gateway ends the stream (here with 4008) it reconnects by
itself and sends `Last-Event-ID`, the `id:` of the last notification it read, so what was
published meanwhile arrives once, with no gap and no duplicate (issue 18: why every
notification carries `id:` = its cursor).

The page comes from a small aiohttp server on another port (a cross-origin stream, as in
production) and posts each event it reads back to it.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from aiohttp import web

from gateway.app import Gateway
from tests.support.gateway import StartGateway
from tests.support.helpers import request, users
from tests.support.page_server import needs_headless_chromium, page_in_chromium

PAGE = """<!doctype html><script>
const cfg = %s;
let reported = Promise.resolve();  // one post at a time, so they arrive in order
const report = (event) => {
  const body = JSON.stringify(event);
  reported = reported.then(() => fetch("/event", {method: "POST", body}));
};
const es = new EventSource(`http://127.0.0.1:${cfg.port}/sse?user_id=eve`);
for (const name of ["welcome", "resumed", "notification", "close"]) {
  es.addEventListener(name, (e) => report({name, id: e.lastEventId, data: JSON.parse(e.data)}));
}
</script>"""


async def _publish(gateway: Gateway, title: str) -> str:
    from grpc import aio

    from gateway.api.v1 import gateway_pb2_grpc as pb_grpc

    async with aio.insecure_channel(f"127.0.0.1:{gateway.grpc_port}") as channel:
        stub = pb_grpc.NotificationGatewayStub(channel)
        return str((await stub.Publish(request(users("eve"), title=title))).cursor)


@needs_headless_chromium
async def test_a_browsers_own_eventsource_resumes_by_last_event_id(
    start_gateway: StartGateway, tmp_path: Path
) -> None:
    gateway = await start_gateway()
    events: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    async def page(_: web.Request) -> web.Response:
        config = {"port": gateway.http_port}
        return web.Response(text=PAGE % json.dumps(config), content_type="text/html")

    async def event(request: web.Request) -> web.Response:
        events.put_nowait(json.loads(await request.text()))
        return web.Response(text="ok")

    async def next_event(timeout: float = 30) -> dict[str, Any]:
        return await asyncio.wait_for(events.get(), timeout)

    routes = [web.get("/", page), web.post("/event", event)]
    async with page_in_chromium(routes, tmp_path):
        welcome = await next_event(60)
        assert welcome["name"] == "welcome" and welcome["id"] == welcome["data"]["cursor"]
        seen = await _publish(gateway, "seen")
        first = await next_event()
        assert (first["name"], first["id"]) == ("notification", seen)

        assert await gateway.service.disconnect("eve", 4008, "too slow") == 1
        close = await next_event()
        assert close["name"] == "close" and close["data"]["code"] == 4008
        # The browser waits the `retry:` hint (3 s), then reconnects on its own.
        missed = await _publish(gateway, "missed")

        again = await next_event()
        assert again["name"] == "welcome"
        resumed = await next_event()
        assert resumed["name"] == "resumed"
        assert resumed["data"] == {
            "event": "resumed",
            "since": seen,
            "complete": True,
            "replayed": 1,
        }
        back = await next_event()
        assert (back["name"], back["id"], back["data"]["cursor"]) == (
            "notification",
            missed,
            missed,
        )
        assert events.empty()  # nothing twice
