"""Shared rounds: one run at a time, each serving every caller that was waiting when it
began (a connect storm on the Redis feed costs a few barrier rounds, not one each)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from gateway.log.base import BackendUnavailable
from gateway.tasks import cancel_surely

__all__ = ["SharedRounds"]


class SharedRounds:
    __slots__ = ("_next", "_task")

    def __init__(self) -> None:
        #: Callers waiting for the next round.
        self._next: list[asyncio.Future[None]] = []
        self._task: asyncio.Future[None] | None = None

    async def join(self, run: Callable[[], Awaitable[None]]) -> None:
        """Wait for the next round to end (started with `run` if none is running); its
        `BackendUnavailable` (any other failure as one) is raised here."""
        done = asyncio.get_running_loop().create_future()
        self._next.append(done)
        if self._task is None or self._task.done():
            self._task = asyncio.ensure_future(self._rounds(run))
        await done

    async def _rounds(self, run: Callable[[], Awaitable[None]]) -> None:
        while self._next:
            waiting, self._next = self._next, []
            try:
                await run()
            except BaseException as exc:  # cancelled too (the session ended): fail them
                failed = exc if isinstance(exc, BackendUnavailable) else None
                for done in waiting:
                    if not done.done():
                        done.set_exception(failed or BackendUnavailable(f"Redis: {exc!r}"))
                if not isinstance(exc, Exception):
                    raise
                continue
            for done in waiting:
                if not done.done():
                    done.set_result(None)

    def stop(self, error: BackendUnavailable) -> None:
        """Fail every waiting caller with `error` and cancel the round running."""
        for done in self._next:
            if not done.done():
                done.set_exception(error)
        self._next = []
        cancel_surely(self._task)
