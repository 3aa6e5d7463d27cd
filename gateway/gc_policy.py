"""How the gateway runs CPython's cyclic garbage collector (see `GcPolicy`)."""

from __future__ import annotations

import asyncio
import contextlib
import gc

__all__ = ["GC_SWEEP_SECONDS", "YOUNG_THRESHOLD", "GcPolicy", "settle"]

#: How often `GcPolicy` lets a full collection scan the long-lived objects as well.
GC_SWEEP_SECONDS = 600.0
#: Tracked objects allocated (net of those freed) before a young collection; CPython's
#: default is 700. A PublishBatch of 500 holds some 4,000 such objects until it returns,
#: so at 700 every batch ran several young collections that scanned its live items again
#: and again; at this threshold they are freed before one is due (callgrind: ~4.8k of
#: ~92k instructions per per-user notification). What survives is scanned once, as before.
YOUNG_THRESHOLD = 20_000


def settle() -> None:
    """Collect, freeze what survives, and raise the young threshold: the policy's start,
    without its sweep timer (also what `scripts/profile-publish` measures under)."""
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)


class GcPolicy:
    """Keeps CPython's cyclic GC from rescanning long-lived objects (the connections).

    Why: an idle connection is some 60 GC-tracked objects that live for hours, and CPython
    scans all of them in every full collection, which it starts each time the long-lived
    objects have grown by a quarter. Connecting 20,000 clients spent half its CPU in the
    GC, with pauses of up to 750 ms that hold up every delivery.

    How: what is alive after start-up, and whatever survives a full collection, is moved
    to the permanent generation (`gc.freeze()`), which collections skip; a full collection
    then scans only what was promoted since the previous one. Reference counting still
    frees frozen objects; only reference cycles among them would outlive their use. A
    closed connection leaves none (the WebSocket protocol drops its references when TCP
    closes), and every `sweep_seconds` the policy unfreezes everything and collects in
    full, so a cycle among long-lived objects is reclaimed within that period, for one
    full-length pause.

    Process-wide, so `run()` applies it; a `Gateway` embedded elsewhere leaves GC alone.
    """

    def __init__(self, sweep_seconds: float = GC_SWEEP_SECONDS) -> None:
        self.sweep_seconds = sweep_seconds
        self._timer: asyncio.TimerHandle | None = None
        self._thresholds = gc.get_threshold()

    def start(self) -> None:
        self._thresholds = gc.get_threshold()
        settle()
        gc.callbacks.append(self._on_gc)
        self._timer = asyncio.get_running_loop().call_later(self.sweep_seconds, self._sweep)

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        with contextlib.suppress(ValueError):
            gc.callbacks.remove(self._on_gc)
        gc.unfreeze()
        gc.set_threshold(*self._thresholds)

    def _on_gc(self, phase: str, info: dict[str, int]) -> None:
        if phase == "stop" and info["generation"] == 2:
            gc.freeze()

    def _sweep(self) -> None:
        self._timer = asyncio.get_running_loop().call_later(self.sweep_seconds, self._sweep)
        gc.unfreeze()
        gc.collect()  # `_on_gc` freezes the survivors again
