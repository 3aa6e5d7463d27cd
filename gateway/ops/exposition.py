"""The Prometheus text exposition of the gateway's counters and gauges (no client library)."""

from __future__ import annotations

from dataclasses import fields

from gateway.metrics import Metrics

__all__ = ["render"]


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
