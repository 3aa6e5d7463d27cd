"""The flags' vocabulary: servers, scenarios, and every size with its full and --quick default.

Kept free of heavy imports: `scripts/bench --help` reads only this.
"""

from __future__ import annotations

from typing import Any

#: "redis" is the gateway with `--backend <the --backend URL>`: the Redis log; "receipts"
#: the gateway with `--receipts` (its clients ack in the `receipts` scenario as the SDKs do);
#: "receipts0" the same server whose clients ack every notification at once (ack interval 0:
#: the sparse worst case, added to the `receipts` scenario's servers by itself); "types" the
#: gateway with a 50-type registry in strict mode (the `types` scenario); "workers2" the
#: gateway on the Redis backend with `--workers 2` (compared with "redis", one process).
#: "tree" is the gateway of another checkout (`--tree DIR`, e.g. the code before a change)
#: and "traced" this one with `--traced-env` variables (tracing on): both are compared with
#: "gateway" in the same run (benchkit/versus.py).
SERVERS = (
    "gateway",
    "baseline",
    "redis",
    "receipts",
    "receipts0",
    "types",
    "node",
    "nchan",
    "pushpin",
    "workers2",
    "tree",
    "traced",
)
#: The kinds that are `python -m gateway` (with flags, a directory or variables of their own).
GATEWAYS = ("gateway", "redis", "receipts", "receipts0", "types", "workers2", "tree", "traced")
#: The kinds started with `--receipts`.
RECEIPTS = ("receipts", "receipts0")
DEFAULT_SERVERS = ("gateway", "baseline", "node", "nchan", "pushpin")
SCENARIOS = (
    "broadcast",
    "unary1",
    "unary32",
    "unaryprocs",
    "steady",
    "peruser",
    "idle",
    "slow",
    "receipts",
    "types",
)

#: flag: (full default, --quick default, help)
SIZES: dict[str, tuple[Any, Any, str]] = {
    "subscribers": (1000, 200, "broadcast: WebSocket subscribers"),
    "notifications": (2000, 2000, "broadcast: notifications to everyone"),
    "payload_bytes": (100, 100, "size of each notification's data (JSON) in bytes"),
    "batch": (100, 50, "broadcast: items per PublishBatch call"),
    "lanes": (2, 2, "concurrent publishers (each sends its batches in order)"),
    "unary_notifications": (2000, 500, "unary1/unary32/unaryprocs: notifications to everyone"),
    "unary_procs": (4, 2, "unaryprocs: publisher processes"),
    "unary_lanes": (8, 8, "unaryprocs: unary calls in flight per publisher process"),
    "window": (500, 200, "broadcast/slow: notifications in flight at most (0 = unbounded)"),
    "sample": (10, 10, "read the timestamp of every N-th frame (1 = every frame)"),
    "steady_subscribers": (1000, 200, "steady: subscribers"),
    "steady_rate": (50.0, 50.0, "steady: notifications per second"),
    "steady_seconds": (5.0, 2.0, "steady: how long"),
    "users": (10_000, 1000, "per-user: connected users (one connection each)"),
    "user_notifications": (
        100_000,
        10_000,
        "per-user: notifications, each to one user (users cycle)",
    ),
    "user_batch": (1000, 1000, "per-user: items per PublishBatch call (at most 1000)"),
    "user_window": (10_000, 5000, "per-user: notifications in flight at most (0 = unbounded)"),
    "receipt_notifications": (
        500_000,
        20_000,
        "receipts: notifications, each to one user (users cycle): ~10 s at ~50k/s, ten of "
        "the clients' 1 s ack intervals, so that the figure is the ack rule's steady state "
        "rather than the start's leading-edge acks",
    ),
    "ack_seconds": (
        1.0,
        1.0,
        "receipts: the clients' ack interval: a notification owed when its connection sent "
        "no ack this long is acked at once, else one ack this long after the last (the "
        "SDKs' default)",
    ),
    "idle_connections": (
        20_000,
        2000,
        "idle: connections held (capped by the open-files limit)",
    ),
    "slow_clients": (200, 50, "slow: clients (one of them stops reading)"),
    "slow_notifications": (3000, 2500, "slow: broadcasts published"),
    "slow_payload_bytes": (4096, 4096, "slow: data bytes per broadcast"),
    "slow_batch": (20, 20, "slow: items per PublishBatch call"),
    "slow_timeout": (30.0, 10.0, "slow: seconds to wait at most (the baseline may block)"),
    "stall_after": (5.0, 3.0, "give up after this many seconds without any frame received"),
    "timeout": (180.0, 30.0, "seconds a measurement may take at most"),
    "procs": (2, 2, "load-client receiver processes"),
    "c_nap_us": (
        500,
        500,
        "C load client, peruser and receipts: after a wake-up for few connections, wait this "
        "long (us) so more arrive, halving its kernel CPU per notification (0 = never)",
    ),
    "connect_concurrency": (200, 200, "handshakes in flight per receiver process"),
}

#: Each scenario's connection count: the flag that sets it.
CONNECTIONS = {
    "idle": "idle_connections",
    "peruser": "users",
    "broadcast": "subscribers",
    "unary1": "subscribers",
    "unary32": "subscribers",
    "unaryprocs": "subscribers",
    "steady": "steady_subscribers",
    "slow": "slow_clients",
    "receipts": "users",
    "types": "users",
}
