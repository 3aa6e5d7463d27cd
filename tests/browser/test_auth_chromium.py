"""A real browser: Chromium's `new WebSocket(url, ["notifications.v1", "bearer." + token])`.

Before the subprotocol was selected, Chromium failed such a socket with 1006. The page
comes from a small aiohttp server on another port (so the socket is cross-origin, as in
production) and posts what it saw back to it.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from aiohttp import web

from tests.support.gateway import StartGateway
from tests.support.page_server import needs_headless_chromium, page_in_chromium
from tests.support.tokens import SECRET, token

PAGE = """<!doctype html><script>
const cfg = %s;
function attempt(query, protocols, refresh) {
  return new Promise((resolve) => {
    const ws = new WebSocket(`ws://127.0.0.1:${cfg.port}/ws?${query}`, protocols);
    const seen = [];
    ws.onmessage = (e) => {
      const event = JSON.parse(e.data);
      seen.push(event.event);
      if (event.event === "welcome" && refresh) {
        ws.send(JSON.stringify({op: "refresh", token: refresh}));
      } else {
        ws.close(1000);
      }
    };
    ws.onclose = (e) => resolve({protocol: ws.protocol, seen, code: e.code});
  });
}
(async () => {
  const results = [
    await attempt("user_id=alice&topics=orders.1",
                  ["notifications.v1", "bearer." + cfg.token], cfg.fresh),
    await attempt("user_id=alice", ["notifications.v1"], null),
    await attempt("user_id=alice&topics=sports",
                  ["notifications.v1", "bearer." + cfg.token], null),
  ];
  await fetch("/result", {method: "POST", body: JSON.stringify(results)});
})();
</script>"""


@needs_headless_chromium
async def test_chromium_connects_with_the_token_in_the_subprotocol(
    start_gateway: StartGateway, tmp_path: Path
) -> None:
    gateway = await start_gateway(jwt_secret=SECRET)
    fresh = token("alice", ttl=600, topics=["orders.*"])
    config = {"port": gateway.http_port, "token": token("alice", topics=["orders.*"])}
    config["fresh"] = fresh
    results: asyncio.Future[list[dict[str, Any]]] = asyncio.get_running_loop().create_future()

    async def page(_: web.Request) -> web.Response:
        return web.Response(text=PAGE % json.dumps(config), content_type="text/html")

    async def result(request: web.Request) -> web.Response:
        if not results.done():
            results.set_result(json.loads(await request.text()))
        return web.Response(text="ok")

    routes = [web.get("/", page), web.post("/result", result)]
    async with page_in_chromium(routes, tmp_path):
        seen = await asyncio.wait_for(results, 60)
    accepted, no_token, forbidden = seen
    assert accepted == {
        "protocol": "notifications.v1",
        "seen": ["welcome", "refreshed"],
        "code": 1000,
    }
    # refused before the upgrade: a browser sees only 1006
    assert no_token == {"protocol": "", "seen": [], "code": 1006}
    assert forbidden == {"protocol": "", "seen": [], "code": 1006}
    assert gateway.service.metrics.connections_refused == {401: 1, 403: 1}
