"""Reload the registry without a restart: on SIGHUP, and when its files change.

A Kubernetes ConfigMap update does not rewrite the mounted files: it writes a new hidden
directory and swaps the `..data` symlink the visible names point through. So the watcher
does not rely on inotify events for the names it sees; every `interval` seconds it takes a
fingerprint of the directory (each file's resolved path, inode, size and mtime) and reloads
when it changed. A reload reads and checks everything off the event loop, then swaps the
whole `Snapshot` in on the loop (one assignment): connections and publishes in flight are
untouched. A reload that fails, or that breaks compatibility while breaking changes are not
allowed, keeps the registry in force, logs one line and counts in a metric.
"""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path

from gateway.tasks import cancel_and_wait
from gateway.types.diff import breaking_changes
from gateway.types.loader import RegistryError, load_registry, registry_files
from gateway.types.registry import TypeRegistry

__all__ = ["RegistryReloader"]

log = logging.getLogger("gateway.types")

Fingerprint = tuple[tuple[str, int, int, int], ...]


def fingerprint(directory: Path) -> Fingerprint | None:
    """What changes when any registry file changes (None: the directory cannot be read)."""
    try:
        files = registry_files(directory)
    except RegistryError:
        return None
    marks = []
    for path in files:
        try:
            stat = path.stat()  # follows the symlink a ConfigMap swaps
            marks.append((os.path.realpath(path), stat.st_ino, stat.st_size, stat.st_mtime_ns))
        except OSError:
            marks.append((str(path), 0, -1, 0))
    return tuple(marks)


class RegistryReloader:
    """Owns reloading one `TypeRegistry` from `directory`."""

    def __init__(
        self,
        registry: TypeRegistry,
        directory: Path,
        *,
        allow_breaking: bool,
        interval: float,
    ) -> None:
        self._registry = registry
        self._directory = directory
        self._allow_breaking = allow_breaking
        self._interval = interval
        self._seen = fingerprint(directory)
        self._task: asyncio.Task[None] | None = None
        #: Reloads a signal asked for, held so the loop does not drop them half-way.
        self._requested: set[asyncio.Task[bool]] = set()
        self._lock = asyncio.Lock()

    def start(self) -> None:
        if self._interval > 0 and self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._watch())

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        self._task = None

    def request(self, reason: str) -> None:
        """Reload soon (a signal handler's call: it cannot await)."""
        task = asyncio.get_running_loop().create_task(self.reload(reason))
        self._requested.add(task)
        task.add_done_callback(self._requested.discard)

    async def reload(self, reason: str) -> bool:
        """Load the directory again and put it in force; False if it was refused."""
        async with self._lock:  # a SIGHUP during a watcher's reload waits its turn
            self._seen = fingerprint(self._directory)
            stats = self._registry.stats
            old = self._registry.snapshot
            try:
                new = await asyncio.to_thread(load_registry, self._directory)
            except Exception as exc:  # RegistryError, or anything a schema library raised
                stats.reload_failures += 1
                why = str(exc) if isinstance(exc, RegistryError) else f"{type(exc).__name__}: {exc}"
                log.warning(
                    "types reload refused, the registry in force stays: %s",
                    why,
                    extra={"reason": reason, "hash": old.hash},
                )
                return False
            if new.hash == old.hash:
                return True
            breaking = breaking_changes(old, new)
            if breaking and not self._allow_breaking:
                stats.reload_failures += 1
                log.warning(
                    "types reload refused, the registry in force stays: %d breaking "
                    "change(s), first %s (set GATEWAY_TYPES_ALLOW_BREAKING=1 to allow)",
                    len(breaking),
                    breaking[0],
                    extra={"reason": reason, "hash": old.hash},
                )
                return False
            self._registry.replace(new)
            stats.reloads += 1
            log.info(
                "types reloaded",
                extra={
                    "reason": reason,
                    "hash": new.hash,
                    "previous_hash": old.hash,
                    "types": len(new.types),
                    "breaking": len(breaking),
                },
            )
            return True

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            if fingerprint(self._directory) != self._seen:
                await self.reload("files changed")
