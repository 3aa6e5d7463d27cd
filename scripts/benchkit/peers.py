"""The peers the gateway is measured against, beside the naive baseline: how each is started
and how its users publish to it.

- "node": the seed's design (seed/seed.js): Node + `ws`, a Map of users, fed over HTTP in
  batches (one POST per PublishBatch). `ws` comes from npm, installed here on first use.
- "pushpin": Pushpin (Debian's package) in front of a small GRIP origin
  (seed/grip-origin.js) that subscribes each WebSocket to its user's channel and "all"
  and sends a welcome; published the way Pushpin's users publish: batched HTTP publishes
  to its handler (`POST /publish/` with an `items` array, one per PublishBatch). Its
  handler's default `message_rate` of 2,500/s is raised so that it is not the limit.
- "nchan": nginx with the nchan module (Debian: nginx-light + libnginx-mod-nchan), one
  worker; published the way nchan's users publish: an HTTP POST per message to
  /pub?id=<channel> (pipelined on a few keep-alive connections, as a batching publisher
  would). Subscribers use /ws?user_id=<id> and follow their user's channel in per-user
  scenarios, the one channel "all" in broadcast ones (multiplexing both cost nchan
  dearly in the steady scenario). nchan sends no welcome event, so
  the load client counts a connection ready at its 101.

Each publisher here answers the calls the scenarios make of a gRPC stub (`Publish`,
`PublishBatch`), so a scenario runs unchanged against every server; the notification is
the same JSON (`type` and the benchmark's `data`), and every message is checked to arrive
by the same load client. Scenarios that need the gateway's API (receipts, types, ...) are
not run against peers.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from gateway.api.v1 import gateway_pb2 as pb

from . import HOST

#: The peers, and the scenarios each runs (the others need the gateway's own API).
PEERS = ("node", "nchan", "pushpin")
PEER_SCENARIOS = frozenset({"broadcast", "unary1", "steady", "peruser", "idle"})
SEED_DIR = Path(__file__).resolve().parent / "seed"
#: Pushpin's publish endpoint (its handler's HTTP port; `port_offset` 0 in our config).
PUSHPIN_PUBLISH_PORT = 5561
#: Peers that send no welcome event: a connection is ready at its 101.
NO_WELCOME = frozenset({"nchan"})


def missing(kind: str) -> str | None:
    """Why `kind` cannot run here (and how to install it), or None."""
    if kind == "node":
        if shutil.which("node") is None or shutil.which("npm") is None:
            return "node and npm are not installed (apt-get install nodejs npm)"
        return None
    if kind == "nchan":
        if shutil.which("nginx") is None and not Path("/usr/sbin/nginx").exists():
            return "nginx is not installed (apt-get install nginx-light libnginx-mod-nchan)"
        if _nchan_module() is None:
            return "the nchan module is not installed (apt-get install libnginx-mod-nchan)"
        return None
    if kind == "pushpin":
        if shutil.which("pushpin") is None or shutil.which("condure") is None:
            return "pushpin is not installed (apt-get install pushpin)"
        return missing("node")
    return f"unknown peer {kind!r}"


def _nchan_module() -> Path | None:
    for folder in ("/usr/lib/nginx/modules", "/usr/share/nginx/modules"):
        path = Path(folder) / "ngx_nchan_module.so"
        if path.exists():
            return path
    return None


#: Scenarios that publish to one user at a time; the others broadcast to everyone.
PER_USER_SCENARIOS = frozenset({"peruser", "idle"})


def prepare(kind: str, http_port: int, workdir: Path, scenario: str = "") -> list[str]:
    """The command that starts `kind` on `http_port` (its files in `workdir`), set up for
    `scenario` (nchan: subscribers follow their user's channel in per-user scenarios, the
    one channel `all` in broadcast ones, as an nchan user would configure either)."""
    if kind == "node":
        if not (SEED_DIR / "node_modules" / "ws").exists():
            subprocess.run(
                ["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"],
                cwd=SEED_DIR,
                check=True,
            )
        return ["node", str(SEED_DIR / "seed.js"), str(http_port)]
    if kind == "nchan":
        workdir.mkdir(parents=True, exist_ok=True)
        conf = workdir / "nginx.conf"
        channel = "$arg_user_id" if scenario in PER_USER_SCENARIOS or not scenario else "all"
        conf.write_text(
            _NGINX_CONF.format(dir=workdir, port=http_port, module=_nchan_module(), channel=channel)
        )
        nginx = shutil.which("nginx") or "/usr/sbin/nginx"
        return [nginx, "-p", str(workdir), "-c", str(conf)]
    if kind == "pushpin":
        return _pushpin(http_port, workdir)
    raise ValueError(f"unknown peer {kind!r}")


def _pushpin(http_port: int, workdir: Path) -> list[str]:
    prepare("node", 0, workdir)  # the origin needs no package, but node itself
    origin = _free_port()
    for sub in ("run", "log"):
        (workdir / sub).mkdir(parents=True, exist_ok=True)
    (workdir / "routes").write_text(f"* {HOST}:{origin},over_http\n")
    (workdir / "pushpin.conf").write_text(
        _PUSHPIN_CONF.format(dir=workdir, port=http_port, publish=PUSHPIN_PUBLISH_PORT)
    )
    # zurl carries the proxy's requests to the origin; the package's own (a system
    # service) is not running here, and the runner's template refuses 127.*: our own
    (workdir / "zurl.conf").write_text(_ZURL_CONF.format(dir=workdir))
    script = (
        f"node {SEED_DIR / 'grip-origin.js'} {origin} & o=$!; "
        f"zurl --config={workdir / 'zurl.conf'} & z=$!; "
        f"pushpin --config {workdir / 'pushpin.conf'} & p=$!; "
        'trap "kill $o $z $p; wait" TERM INT; wait'
    )
    return ["sh", "-c", script]


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind((HOST, 0))
        port: int = s.getsockname()[1]
        return port


_PUSHPIN_CONF = """\
[global]
include={{libdir}}/internal.conf
rundir={dir}/run
ipc_prefix=bench-
port_offset=0
[runner]
services=condure,pushpin-proxy,pushpin-handler
http_port={port}
logdir={dir}/log
log_level=2
client_maxconn=60000
[proxy]
routesfile=routes
zurl_out_specs=ipc://{dir}/run/zurl-in
zurl_out_stream_specs=ipc://{dir}/run/zurl-in-stream
zurl_in_specs=ipc://{dir}/run/zurl-out
[handler]
push_in_http_addr=127.0.0.1
push_in_http_port={publish}
message_rate=1000000
message_hwm=1000000
"""


_ZURL_CONF = """\
[General]
in_spec=ipc://{dir}/run/zurl-in
in_stream_spec=ipc://{dir}/run/zurl-in-stream
out_spec=ipc://{dir}/run/zurl-out
defpolicy=allow
max_open_requests=60000
buffer_size=200000
timeout=600
in_hwm=10000
out_hwm=10000
"""


_NGINX_CONF = """\
load_module {module};
worker_processes 1;
daemon off;
error_log {dir}/error.log warn;
pid {dir}/nginx.pid;
worker_rlimit_nofile 65536;
events {{ worker_connections 65536; }}
http {{
    access_log off;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    keepalive_requests 1000000;
    server {{
        listen {HOST}:{port} backlog=4096;
        location = /healthz {{ return 200 "ok\\n"; }}
        location = /ws {{
            nchan_subscriber websocket;
            nchan_channel_id {channel};
        }}
        location = /pub {{
            nchan_publisher http;
            nchan_channel_id $arg_id;
        }}
    }}
}}
""".replace("{HOST}", HOST)


@dataclass
class _Result:
    code: int = 0
    message: str = ""


@dataclass
class _Batch:
    results: list[_Result] = field(default_factory=list)


def _message(request: pb.PublishRequest) -> tuple[str | None, str]:
    """(user or None for everyone, the notification as JSON text)."""
    n = request.notification
    data = n.data_json or "{}"
    text = f'{{"type":"{n.type}","data":{data}}}'
    target = request.target
    if target.WhichOneof("kind") == "users":
        return target.users.user_ids[0], text
    return None, text


class NodePublisher:
    """PublishBatch → one POST /publish of the batch; Publish → a batch of one."""

    def __init__(self, port: int) -> None:
        self._url = f"http://{HOST}:{port}/publish"
        self._session = aiohttp.ClientSession()

    async def close(self) -> None:
        await self._session.close()

    async def _post(self, requests: list[pb.PublishRequest], timeout: float) -> _Batch:  # noqa: ASYNC109
        parts = []
        for request in requests:
            user, text = _message(request)
            address = '"e":1' if user is None else f'"u":"{user}"'
            parts.append(f'{{{address},"n":{text}}}')
        body = ("[" + ",".join(parts) + "]").encode()
        async with self._session.post(
            self._url, data=body, timeout=aiohttp.ClientTimeout(total=timeout)
        ) as response:
            await response.read()
            code = 0 if response.status == 200 else response.status
        return _Batch([_Result(code) for _ in requests])

    async def PublishBatch(self, batch: pb.PublishBatchRequest, timeout: float) -> _Batch:  # noqa: ASYNC109 - the gRPC stub's signature
        return await self._post(list(batch.requests), timeout)

    async def Publish(self, request: pb.PublishRequest, timeout: float) -> _Batch:  # noqa: ASYNC109 - the gRPC stub's signature
        return await self._post([request], timeout)


class NchanPublisher:
    """Each notification an HTTP POST /pub?id=<channel>; a batch pipelined on `lanes`
    keep-alive connections (every response read and checked). A unary `Publish` takes an
    idle connection or opens another, up to `UNARY_LANES`, as an HTTP client's pool would
    (aiohttp's default is 100 per host): with only the batch's lanes, a steady publish
    waited for a busy one whenever nchan answered late, and that wait counted in nchan's
    latency (54 of 502 publishes waited > 1 ms on a loaded machine)."""

    #: The most keep-alive connections unary publishes open (a client pool's limit).
    UNARY_LANES = 64

    def __init__(self, port: int, lanes: int = 4) -> None:
        self._port = port
        self._idle: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = (
            asyncio.Queue()
        )
        self._opened = 0
        self._lanes = lanes
        self._all: list[asyncio.StreamWriter] = []

    async def close(self) -> None:
        for writer in self._all:
            writer.close()

    async def _lane(self, most: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self._idle.empty() and self._opened < most:
            self._opened += 1
            reader, writer = await asyncio.open_connection(HOST, self._port, limit=1 << 22)
            self._all.append(writer)
            return reader, writer
        return await self._idle.get()

    async def _send(self, requests: list[pb.PublishRequest], most: int) -> list[_Result]:
        reader, writer = await self._lane(most)
        try:
            out = []
            for request in requests:
                user, text = _message(request)
                body = f'{{"event":"notification","notification":{text}}}'.encode()
                channel = "all" if user is None else user
                out.append(
                    f"POST /pub?id={channel} HTTP/1.1\r\nHost: x\r\n"
                    f"Content-Length: {len(body)}\r\n\r\n".encode()
                    + body
                )
            writer.write(b"".join(out))
            return [await _read_response(reader) for _ in requests]
        finally:
            self._idle.put_nowait((reader, writer))

    async def PublishBatch(self, batch: pb.PublishBatchRequest, timeout: float) -> _Batch:  # noqa: ASYNC109 - the gRPC stub's signature
        # a channel's messages stay on one connection, in order (nchan keeps each
        # channel's order as its publisher sent it)
        requests = list(batch.requests)
        parts: list[list[tuple[int, pb.PublishRequest]]] = [[] for _ in range(self._lanes)]
        for index, request in enumerate(requests):
            user, _ = _message(request)
            parts[hash(user) % self._lanes].append((index, request))
        async with asyncio.timeout(timeout):
            done = await asyncio.gather(
                *(self._send([r for _, r in part], self._lanes) for part in parts if part)
            )
        results: list[_Result] = [_Result()] * len(requests)
        for part, answers in zip([p for p in parts if p], done, strict=True):
            for (index, _), answer in zip(part, answers, strict=True):
                results[index] = answer
        return _Batch(results)

    async def Publish(self, request: pb.PublishRequest, timeout: float) -> _Batch:  # noqa: ASYNC109 - the gRPC stub's signature
        async with asyncio.timeout(timeout):
            return _Batch(await self._send([request], self.UNARY_LANES))


async def _read_response(reader: asyncio.StreamReader) -> _Result:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n"):
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    if length:
        await reader.readexactly(length)
    # nchan answers 201 (created, no subscriber yet) or 202 (queued to subscribers)
    return _Result(0 if status in (200, 201, 202) else status, head[:40].decode("latin-1"))


class PushpinPublisher(NodePublisher):
    """PublishBatch → one POST /publish/ to Pushpin's handler with an item per message."""

    def __init__(self, port: int) -> None:
        super().__init__(port)
        self._url = f"http://{HOST}:{PUSHPIN_PUBLISH_PORT}/publish/"

    async def _post(self, requests: list[pb.PublishRequest], timeout: float) -> _Batch:  # noqa: ASYNC109
        items = []
        for request in requests:
            user, text = _message(request)
            content = f'{{"event":"notification","notification":{text}}}'
            items.append(
                {
                    "channel": "all" if user is None else user,
                    "formats": {"ws-message": {"content": content}},
                }
            )
        async with self._session.post(
            self._url, json={"items": items}, timeout=aiohttp.ClientTimeout(total=timeout)
        ) as response:
            await response.read()
            code = 0 if response.status == 200 else response.status
        return _Batch([_Result(code) for _ in requests])


def publisher(kind: str, port: int) -> Any:
    """The stub-like publisher for peer `kind`."""
    if kind == "node":
        return NodePublisher(port)
    if kind == "pushpin":
        return PushpinPublisher(port)
    if kind == "nchan":
        return NchanPublisher(port)
    raise ValueError(f"unknown peer {kind!r}")
