"""The compiled twins of a few per-item hot paths (gateway/csrc), or None without them.

`gateway._speedups` is built from gateway/csrc by `pip install` (setuptools'
`ext-modules` in pyproject.toml). Each function in it has a pure-Python twin that stays
the reference: callers use `speedups.<name>` when `speedups` is not None and the twin
otherwise, and the tests check that both give the same bytes and the same errors.
`GATEWAY_NO_SPEEDUPS=1` forces the Python twins (the suite runs its key tests that way
too); a module that fails to import is the same as none, so an install without a C
compiler still serves, only slower.
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType

__all__ = ["FORCED_OFF", "compiled", "speedups"]

#: Set by GATEWAY_NO_SPEEDUPS=1: the pure-Python twins even when the module is built.
FORCED_OFF = os.environ.get("GATEWAY_NO_SPEEDUPS", "") not in ("", "0")


def compiled(name: str) -> ModuleType | None:
    """The compiled module `gateway.<name>` (e.g. "_speedups", "_receipts"), or None when
    forced off or not built: the one rule every module with a C twin loads by."""
    if FORCED_OFF:
        return None
    try:
        return importlib.import_module(f"gateway.{name}")
    except ImportError:
        return None


speedups = compiled("_speedups")
