"""The C load client (crecv*.c): built on first use, and the parent's handle on a process.

On a 2-core machine the Python receivers' CPU competes with the server under test (~0.8
core in the per-user scenario, more once every client acks), so those figures measured the
load client as much as the server; real clients run on their own devices. `crecv` does what
`Receiver` + `WsClient` do for the ws transport (connect from the same source addresses,
count, check order, sample latency, ack as the SDKs do, stall/resume) on one epoll loop.

`CReceiverHandle` has `ReceiverHandle`'s face (`index`, `counter.value`, `call`, `stop`),
so the scenarios do not know which client runs. Its commands are lines on the child's
stdin ("ID NAME ARGS..."), each answered by one line on its stdout ("ID ok JSON" or
"ID err TEXT"); the frame counter the parent polls is 8 bytes of a memfd both map.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import hashlib
import itertools
import json
import mmap
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

from . import ROOT
from .wsclient import ACK_SECONDS

HERE = Path(__file__).resolve().parent
SOURCES = ("crecv.c", "crecv_cmd.c", "crecv_ws.c", "crecv_acks.c", "crecv.h")
#: Where the binary is built (git ignores it), one per version of the sources and flags.
CACHE = HERE / ".build"
FLAGS = ("-O2", "-Wall", "-Wextra", "-Werror")
#: Replies can be large (every latency sample of a per-user run): one line each.
_LINE_LIMIT = 1 << 30


def compiler() -> str | None:
    """The C compiler (`$CC`, else `cc`), or None when there is none."""
    cc = os.environ.get("CC", "cc")
    return shutil.which(cc)


def build() -> Path:
    """The compiled load client, built now if these sources were not built before."""
    cc = compiler()
    digest = hashlib.sha256(" ".join(FLAGS).encode())
    for name in SOURCES:
        digest.update((HERE / name).read_bytes())
    binary = CACHE / f"crecv-{digest.hexdigest()[:16]}"
    if binary.is_file():
        return binary
    if cc is None:
        raise RuntimeError(
            "no C compiler (cc) to build the C load client; use --load-client python"
        )
    CACHE.mkdir(exist_ok=True)
    tmp = binary.with_suffix(f".tmp{os.getpid()}")
    sources = [str(HERE / n) for n in SOURCES if n.endswith(".c")]
    done = subprocess.run(
        [cc, *FLAGS, "-o", str(tmp), *sources, "-lm"], capture_output=True, text=True, cwd=ROOT
    )
    if done.returncode:
        raise RuntimeError(f"building the C load client failed:\n{done.stderr}")
    tmp.replace(binary)  # atomic: two builds at once both end with a whole binary
    return binary


def command_line(req_id: int, name: str, kwargs: dict[str, Any]) -> bytes:
    """One command as crecv reads it (ValueError for what it cannot do)."""
    if name == "connect":
        if kwargs.get("transport", "ws") != "ws":
            raise ValueError("the C load client speaks WebSocket only (use --load-client python)")
        parts = [str(kwargs["port"]), str(kwargs["concurrency"]), repr(float(kwargs["budget"]))]
        parts.append("1" if kwargs.get("welcome", True) else "0")
        for user, topics in kwargs["specs"]:
            if any(ch.isspace() for ch in user + topics):
                raise ValueError(f"no whitespace in a user id or topics: {user!r} {topics!r}")
            parts.append(f"{user}\t{topics}")
        args = " ".join(parts)
    elif name == "reset":
        args = str(int(kwargs["sample"]))
    elif name == "acks":
        args = f"{1 if kwargs['on'] else 0} {float(kwargs.get('seconds', ACK_SECONDS))!r}"
    elif name == "nap":
        args = str(int(kwargs["us"]))
    elif name in ("stall", "resume"):
        args = f"{int(kwargs['index'])} {float(kwargs.get('wait_close', 10.0))!r}"
    elif name in ("flush_acks", "report", "close", "exit"):
        args = ""
    else:
        raise ValueError(f"the C load client has no command {name!r}")
    return f"{req_id} {name} {args}\n".encode()


class CReceiverHandle:
    """The parent's side of one C receiver process, started on the first call."""

    def __init__(self, index: int, binary: Path) -> None:
        self.index = index
        self.binary = binary
        self._fd = os.memfd_create(f"bench-crx{index}")
        os.ftruncate(self._fd, 8)
        self._map = mmap.mmap(self._fd, 8)
        #: Notification frames received since the last reset (written by the child).
        self.counter = ctypes.c_int64.from_buffer(self._map)
        self._proc: asyncio.subprocess.Process | None = None
        self._ids = itertools.count()
        self._lock: asyncio.Lock | None = None

    async def _started(self) -> asyncio.subprocess.Process:
        if self._proc is None:
            self._proc = await asyncio.create_subprocess_exec(
                str(self.binary),
                str(self._fd),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                pass_fds=(self._fd,),
                limit=_LINE_LIMIT,
            )
        return self._proc

    async def call(self, name: str, wait: float = 60.0, **kwargs: Any) -> Any:
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            proc = await self._started()
            assert proc.stdin is not None and proc.stdout is not None
            req_id = next(self._ids)
            proc.stdin.write(command_line(req_id, name, kwargs))
            await proc.stdin.drain()
            async with asyncio.timeout(wait):
                while True:
                    line = await proc.stdout.readline()
                    if not line:
                        raise RuntimeError(f"C receiver {self.index} died ({name})")
                    rid, status, value = line.decode().split(" ", 2)
                    if int(rid) == req_id:  # else a late reply to a call that timed out
                        break
                if name == "exit":  # reaped here, before stop(): no race with the watcher
                    await proc.wait()
        result = json.loads(value)
        if status != "ok":
            raise RuntimeError(f"C receiver {self.index} {name}: {result}")
        if name == "report":  # the Python receiver's codes are ints (JSON keys are not)
            result["close_codes"] = {int(k): n for k, n in result["close_codes"].items()}
        return result

    def stop(self) -> None:
        if self._proc is not None and self._proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self._proc.kill()
        with contextlib.suppress(OSError):
            os.close(self._fd)
