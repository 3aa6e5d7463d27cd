"""One replica's figures for the operators' page: counters (the page makes rates of them),
connections, the backend's state and its refusals by reason, as plain JSON.

The service answers them for itself and, over the peers' channel, for the others
(`NotificationService.every_replica_figures`), so the page shows every replica.
"""

from __future__ import annotations

import os
import socket
from typing import Any

from gateway.log.base import NotificationLog
from gateway.metrics import Metrics

__all__ = ["replica_figures"]


def replica_figures(
    metrics: Metrics, connections: int, log: NotificationLog, accepting: bool
) -> dict[str, Any]:
    stats = log.stats
    refusals = {
        "publish: invalid": metrics.rejected_invalid,
        "publish: unavailable": metrics.rejected_unavailable,
        "publish: id reused (conflict)": metrics.conflicts,
        "connect: request head too slow (408)": metrics.heads_timed_out,
        "connect: too many heads at once (503)": metrics.heads_shed,
        "closed: too slow to read (4008)": metrics.slow_clients_closed,
        "client frame refused": metrics.bad_client_frames,
    }
    for status, count in metrics.connections_refused.items():
        refusals[f"connect: refused ({status})"] = count
    return {
        # the pod's name in Kubernetes; the pid tells replicas on one host apart
        "replica": f"{socket.gethostname()}/{os.getpid()}",
        "accepting": accepting,
        "connections": connections,
        "published": metrics.published,
        # every frame this replica queued, whoever accepted the publish (`delivered` counts
        # only the accepting replica's own connections)
        "delivered": int(metrics.fanout_connections.sum),
        "duplicates": metrics.duplicates,
        "refusals": refusals,
        "backend": {
            "up": log.healthy,
            "errors": stats.errors,
            "gaps": stats.gaps,
            "lag_seconds": stats.follower_lag_seconds,
            "lag_entries": stats.follower_lag_entries,
        },
    }
