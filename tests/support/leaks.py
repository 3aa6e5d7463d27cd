"""Checks that a C function neither leaks references nor memory when called many times."""

from __future__ import annotations

import gc
import sys
import tracemalloc
from collections.abc import Callable
from typing import Any


def assert_no_leak(call: Callable[[], Any], watched: list[Any], rounds: int = 2000) -> None:
    """Call `call` `rounds` times: the refcounts of `watched` (its inputs) must not move
    and the memory Python's allocators hold must not grow by more than a few blocks.

    tracemalloc sees PyMem_* and PyObject_* allocations, so a buffer or object the C code
    forgets to free grows the traced size by at least `rounds` blocks.
    """
    for _ in range(50):  # caches, interned strings, the first allocations
        call()
    gc.collect()
    before = [sys.getrefcount(value) for value in watched]
    tracemalloc.start()
    try:
        call()
        gc.collect()
        start, _ = tracemalloc.get_traced_memory()
        for _ in range(rounds):
            call()
        gc.collect()
        end, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    after = [sys.getrefcount(value) for value in watched]
    assert after == before, "references leaked (or were stolen) per call"
    assert end - start < rounds, f"memory grew by {end - start} bytes over {rounds} calls"
