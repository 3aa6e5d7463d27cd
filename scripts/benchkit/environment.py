"""The machine the bench runs on: the open-files limit, and the run's metadata for the JSON."""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import resource
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from . import ROOT, uvloop_factory
from .options import CONNECTIONS


def raise_nofile(warnings: list[str], args: argparse.Namespace) -> None:
    """Soft open-files limit up to the hard one; cap every connection count to what fits."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        soft = hard
    # The server holds one descriptor per connection, plus its own (listeners, gRPC, logs).
    room = soft - 256
    biggest = max(
        (getattr(args, flag) for name, flag in CONNECTIONS.items() if name in args.scenarios),
        default=0,
    )
    if biggest > room:
        warnings.append(
            f"open-files limit is {soft} (raise the hard limit with `ulimit -Hn` as root): "
            f"scenarios capped at {room} connections instead of {biggest}"
        )
        for flag in CONNECTIONS.values():
            setattr(args, flag, min(getattr(args, flag), room))
    args.floor_sockets = min(args.floor_sockets, room)


def meta(args: argparse.Namespace) -> dict[str, Any]:
    """When, where and with what the bench ran."""
    commit = ""
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        commit = subprocess.run(
            ["git", "-C", str(ROOT), "describe", "--always", "--dirty"],
            capture_output=True,
            text=True,
            timeout=5,
        ).stdout.strip()
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "commit": commit,
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "loadavg_at_start": os.getloadavg(),
        "uvloop": uvloop_factory() is not None,
        "nofile": resource.getrlimit(resource.RLIMIT_NOFILE),
        "args": {
            k: (str(v) if isinstance(v, Path) else v)
            for k, v in vars(args).items()
            if k not in ("serve_baseline", "http_port", "grpc_port")
        },
    }
