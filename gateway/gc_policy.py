"""How the gateway runs CPython's cyclic garbage collector (see `GcPolicy`)."""

from __future__ import annotations

import asyncio
import contextlib
import gc

__all__ = ["GC_SWEEP_SECONDS", "GcPolicy"]

#: How often `GcPolicy` lets a full collection scan the long-lived objects as well.
GC_SWEEP_SECONDS = 600.0


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

    def start(self) -> None:
        gc.collect()
        gc.freeze()
        gc.callbacks.append(self._on_gc)
        self._timer = asyncio.get_running_loop().call_later(self.sweep_seconds, self._sweep)

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        with contextlib.suppress(ValueError):
            gc.callbacks.remove(self._on_gc)
        gc.unfreeze()

    def _on_gc(self, phase: str, info: dict[str, int]) -> None:
        if phase == "stop" and info["generation"] == 2:
            gc.freeze()

    def _sweep(self) -> None:
        self._timer = asyncio.get_running_loop().call_later(self.sweep_seconds, self._sweep)
        gc.unfreeze()
        gc.collect()  # `_on_gc` freezes the survivors again
