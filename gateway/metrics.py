"""Counters the gateway keeps: plain integers the core and the edges bump.

Cheap enough for the publish path; `gateway.ops.exposition` reads them for `/metrics`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["Metrics"]


@dataclass(slots=True)
class Metrics:
    #: Notifications appended to the log (duplicates of a retained id not included).
    published: int = 0
    #: Publishes answered with the first cursor of an id already retained.
    duplicates: int = 0
    #: Frames handed to local connections, summed over notifications.
    delivered: int = 0
    #: Notifications sent to resuming clients from the log.
    replayed: int = 0
    #: Publishes refused with INVALID_ARGUMENT.
    rejected_invalid: int = 0
    #: Publishes refused with UNAVAILABLE (draining, or the log is down).
    rejected_unavailable: int = 0
    #: WebSocket connections accepted since start.
    connections_opened: int = 0
    #: Clients closed with 4008 because their send buffer overflowed.
    slow_clients_closed: int = 0
    #: Client frames answered with an `error` event.
    bad_client_frames: int = 0
    #: WebSocket requests refused before the upgrade, by HTTP status.
    connections_refused: dict[int, int] = field(default_factory=dict)

    def refused(self, status: int) -> None:
        self.connections_refused[status] = self.connections_refused.get(status, 0) + 1
