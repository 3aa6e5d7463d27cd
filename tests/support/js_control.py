"""A real gateway the JS client's `node --test` suites drive: one JSON command per stdin line.

Not a test module. `clients/js/test/harness.mjs` starts `python -m tests.support.js_control`, which
runs a `Gateway` in this process and answers each command with one JSON line on stdout:

    {"cmd": "start", "settings": {...}}      -> {"ok": true, "http_port": P, "grpc_port": G}
    {"cmd": "restart"}                       -> drain (1001), start again on the same ports
    {"cmd": "stop"} / {"cmd": "resume"}      -> drain; start again on the same ports
    {"cmd": "publish", "users": [...] | "topic": "t" | "everyone": true, "type": ..., ...}
                                             -> {"ok": true, "cursor": ..., "delivered": n}
    {"cmd": "disconnect", "user_id": u, "code": c}   -> the gRPC Disconnect RPC
    {"cmd": "freeze", "seconds": s}          -> blocks the event loop: a gateway that is alive
                                                on TCP but answers nothing (the ping watchdog)
    {"cmd": "token", "sub": u, "ttl": s, "topics": [...]}  -> an HS256 JWT for the secret
    {"cmd": "strip_upgrade"}                 -> {"ok": true, "url": ws://.../ws}: a proxy in front
                                                of the gateway that strips `Upgrade` from every
                                                request (tests/support/netproxy.py);
                                                `"on": false`: it passes them from now on
    {"cmd": "redis"}                         -> {"ok": true, "url": U}: a private redis-server
    {"cmd": "receipts", "ids": [...]}        -> {"receipts": [{id, state, users, delivered}]}
                                                (tests/support/redis_helpers.py), stopped when this
                                                process ends; start gateways with
                                                {"backend": U} here and in other controls
"""

from __future__ import annotations

import asyncio
import json
import shutil
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import grpc
import jwt

from gateway.api.v1 import gateway_pb2 as pb
from gateway.api.v1 import gateway_pb2_grpc as pb_grpc
from gateway.app import Gateway
from gateway.client import publish_request
from gateway.config import Settings
from tests.support.netproxy import TcpProxy
from tests.support.redis_helpers import RedisServer


class Control:
    def __init__(self) -> None:
        self.settings: dict[str, Any] = {}
        self.gateway: Gateway | None = None
        self.redis: RedisServer | None = None
        self.proxy: TcpProxy | None = None

    async def start(self, settings: dict[str, Any] | None = None) -> dict[str, Any]:
        if settings is not None:
            self.settings = {"http_port": 0, "grpc_port": 0, "grace_seconds": 2.0, **settings}
        self.gateway = Gateway(Settings(**self.settings))
        await self.gateway.start()
        # On Redis the follower connects in the background; WebSockets get 503 until then.
        for _ in range(500):
            if self.gateway.log.healthy:
                break
            await asyncio.sleep(0.02)
        else:
            raise RuntimeError("the gateway did not reach its backend")
        # A restart binds the same ports, as a restarted process behind one address would.
        self.settings["http_port"] = self.gateway.http_port
        self.settings["grpc_port"] = self.gateway.grpc_port
        return {"http_port": self.gateway.http_port, "grpc_port": self.gateway.grpc_port}

    async def stop(self) -> dict[str, Any]:
        if self.gateway is not None and self.gateway.service.accepting:
            await self.gateway.drain()
        return {}

    async def start_proxy(self, strip: bool) -> dict[str, Any]:
        """The proxy in front, made once; `strip` is whether the connections it accepts from
        now on lose `Upgrade` (false: the network was fixed, upgrades pass again)."""
        if self.gateway is None:
            raise RuntimeError("start the gateway first")
        if self.proxy is None:
            self.proxy = await TcpProxy(self.gateway.http_port).start()
        self.proxy.strip_upgrade = strip
        return {"url": f"ws://127.0.0.1:{self.proxy.port}/ws"}

    def start_redis(self) -> dict[str, Any]:
        if self.redis is None:
            self.redis = RedisServer(Path(tempfile.mkdtemp(prefix="js-control-redis-")))
            self.redis.start()
        return {"url": self.redis.url}

    def stop_redis(self) -> None:
        if self.redis is not None:
            self.redis.stop()
            shutil.rmtree(self.redis.dir, ignore_errors=True)

    async def restart(self) -> dict[str, Any]:
        await self.stop()
        return await self.start()

    async def _stub_call(self, method: str, request: Any) -> Any:
        port = self.settings["grpc_port"]
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = pb_grpc.NotificationGatewayStub(channel)
            return await getattr(stub, method)(request)

    async def publish(self, cmd: dict[str, Any]) -> dict[str, Any]:
        request = publish_request(
            users=cmd.get("users", ()),
            topic=cmd.get("topic"),
            everyone="users" not in cmd and "topic" not in cmd,
            type=cmd["type"],
            title=cmd.get("title", ""),
            data=cmd.get("data"),
            id=cmd.get("id", ""),
            receipt_deadline=(
                timedelta(seconds=cmd["receipt_deadline"]) if "receipt_deadline" in cmd else None
            ),
        )
        reply = await self._stub_call("Publish", request)
        return {"id": reply.id, "cursor": reply.cursor, "delivered": reply.delivered}

    async def disconnect(self, cmd: dict[str, Any]) -> dict[str, Any]:
        request = pb.DisconnectRequest(
            user_id=cmd["user_id"], code=cmd.get("code", 0), reason=cmd.get("reason", "")
        )
        reply = await self._stub_call("Disconnect", request)
        return {"closed": reply.closed}

    async def receipts(self, cmd: dict[str, Any]) -> dict[str, Any]:
        """Receipts: each id's state and its users' states, as lowercase words."""
        reply = await self._stub_call("GetReceipts", pb.GetReceiptsRequest(ids=cmd["ids"]))
        word = {v: k.removeprefix("RECEIPT_STATE_").lower() for k, v in pb.ReceiptState.items()}
        return {
            "receipts": [
                {
                    "id": r.id,
                    "state": word[r.state],
                    "users": {u.user_id: word[u.state] for u in r.users},
                    "delivered": r.audience.delivered,
                }
                for r in reply.receipts
            ]
        }

    def token(self, cmd: dict[str, Any]) -> dict[str, Any]:
        claims: dict[str, Any] = {"sub": cmd["sub"], "exp": int(time.time() + cmd.get("ttl", 60))}
        if "topics" in cmd:
            claims["topics"] = cmd["topics"]
        return {"token": jwt.encode(claims, self.settings["jwt_secret"], algorithm="HS256")}

    async def handle(self, cmd: dict[str, Any]) -> dict[str, Any]:
        name = cmd.get("cmd")
        if name == "start":
            return await self.start(cmd.get("settings", {}))
        if name == "stop":
            return await self.stop()
        if name == "resume":
            return await self.start()
        if name == "restart":
            return await self.restart()
        if name == "publish":
            return await self.publish(cmd)
        if name == "disconnect":
            return await self.disconnect(cmd)
        if name == "token":
            return self.token(cmd)
        if name == "receipts":
            return await self.receipts(cmd)
        if name == "redis":
            return self.start_redis()
        if name == "strip_upgrade":
            return await self.start_proxy(bool(cmd.get("on", True)))
        if name == "freeze":
            # On purpose: blocking the loop stops the whole gateway answering.
            time.sleep(float(cmd["seconds"]))  # noqa: ASYNC251
            return {}
        raise ValueError(f"unknown command {name!r}")


async def main() -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    control = Control()
    try:
        while line := await reader.readline():
            try:
                reply = {"ok": True, **await control.handle(json.loads(line))}
            except Exception as exc:
                reply = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
            sys.stdout.write(json.dumps(reply) + "\n")
            sys.stdout.flush()
    finally:
        await control.stop()
        control.stop_redis()


if __name__ == "__main__":
    asyncio.run(main())
