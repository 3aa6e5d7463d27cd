"""Counters the gateway keeps, and their Prometheus text exposition (no client library).

The core and the edges bump plain integer attributes (cheap enough for the publish path);
`render()` turns them and a few gauges into the text format served at `/metrics`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

__all__ = ["Metrics", "render"]


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


def render(metrics: Metrics, gauges: dict[str, tuple[str, float]]) -> str:
    """Prometheus text format: every counter as `gateway_<name>_total`, then the gauges."""
    lines: list[str] = []
    for item in fields(metrics):
        name = f"gateway_{item.name}_total"
        lines.append(f"# TYPE {name} counter")
        value = getattr(metrics, item.name)
        if isinstance(value, dict):
            lines.extend(
                f'{name}{{status="{key}"}} {count}' for key, count in sorted(value.items())
            )
        else:
            lines.append(f"{name} {value}")
    for name, (help_text, value) in gauges.items():
        lines.extend(
            (
                f"# HELP gateway_{name} {help_text}",
                f"# TYPE gateway_{name} gauge",
                f"gateway_{name} {value}",
            )
        )
    return "\n".join(lines) + "\n"
