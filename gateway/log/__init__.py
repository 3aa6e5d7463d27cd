"""The history log: ordered, bounded, and the bus that carries every accepted notification.

`base` holds the interface; `memory` the embedded default. A shared implementation (Redis
Streams) slots in beside it for several replicas without touching the edges or the hub.
"""

from __future__ import annotations

from gateway.log.address import Address
from gateway.log.base import (
    AppendResult,
    Draft,
    Entry,
    GapScope,
    LogListener,
    NotificationLog,
    Replay,
)
from gateway.log.cursor import Cursor
from gateway.log.memory import MemoryLog

__all__ = [
    "Address",
    "AppendResult",
    "Cursor",
    "Draft",
    "Entry",
    "GapScope",
    "LogListener",
    "MemoryLog",
    "NotificationLog",
    "Replay",
]
