"""Counters and histograms the gateway keeps: plain integers the core and the edges bump.

Cheap enough for the publish path: a counter is `+= 1`, a histogram observation is one
`bisect` over a short tuple and two additions. Nothing here knows Prometheus;
`gateway.ops.exposition` reads these fields at scrape time and names them. Every field
carries its HELP text in `metadata["help"]`, so whoever adds a figure describes it here.
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "BACKEND_SECONDS_BUCKETS",
    "DELIVERY_SECONDS_BUCKETS",
    "FANOUT_BUCKETS",
    "FLUSH_BYTES_BUCKETS",
    "PUBLISH_SECONDS_BUCKETS",
    "BackendStats",
    "Histogram",
    "Metrics",
    "ReceiptStats",
    "delivery_histogram",
]

#: Seconds from a publish call's arrival in the gRPC handler to its frames being queued.
PUBLISH_SECONDS_BUCKETS = (
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
)
#: Seconds one round trip to the shared log's store (Redis) took: the same scale.
BACKEND_SECONDS_BUCKETS = PUBLISH_SECONDS_BUCKETS
#: Connections one notification was queued on (0: nobody addressed is connected here).
FANOUT_BUCKETS = (0, 1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10_000, 25_000, 100_000)
#: Bytes handed to one connection's transport in one write (all its frames of one flush).
#: Seconds from a notification's publish to a client's ack of it (receipts): what a person
#: waits, network and backgrounded tabs included.
DELIVERY_SECONDS_BUCKETS = (
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
    300.0,
)
FLUSH_BYTES_BUCKETS = (64, 128, 256, 512, 1024, 2048, 4096, 8192, 16_384, 65_536, 262_144, 1 << 20)


class Histogram:
    """Fixed buckets with inclusive upper bounds (Prometheus `le`), counted per bucket.

    `counts[i]` holds the observations in `(bounds[i-1], bounds[i]]`; the last slot holds
    those above every bound. The exposition makes them cumulative at scrape time, so an
    observation costs one bisect and two additions, whatever the number of buckets.
    """

    __slots__ = ("bounds", "counts", "sum")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        if list(bounds) != sorted(set(bounds)):
            raise ValueError("histogram bounds must be strictly increasing")
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)
        self.sum = 0.0

    def observe(self, value: float, times: int = 1) -> None:
        """Count `value` `times` times (a batch's items share one latency)."""
        self.counts[bisect_left(self.bounds, value)] += times
        self.sum += value * times

    @property
    def count(self) -> int:
        return sum(self.counts)


def delivery_histogram() -> Histogram:
    """One type's publish-to-ack histogram (receipts' `delivery_seconds`)."""
    return Histogram(DELIVERY_SECONDS_BUCKETS)


def _counter(help_text: str) -> Any:
    return field(default=0, metadata={"help": help_text})


@dataclass(slots=True)
class Metrics:
    published: int = _counter("Notifications appended to the log (duplicates not included).")
    duplicates: int = _counter(
        "Publishes answered with the first cursor of an id seen within the idempotency window "
        "(not delivered again)."
    )
    conflicts: int = _counter(
        "Publishes refused with ALREADY_EXISTS: their id was used for another target or content."
    )
    delivered: int = _counter("Frames queued on local connections, summed over notifications.")
    flushes: int = _counter(
        "Flushes that wrote publishes to connections (one write per connection with frames)."
    )
    flushed_publishes: int = _counter(
        "Publishes those flushes carried: flushed_publishes / flushes is publishes per flush."
    )
    replayed: int = _counter("Notifications sent from the log to resuming clients.")
    rejected_invalid: int = _counter("Publishes refused with INVALID_ARGUMENT.")
    rejected_unavailable: int = _counter(
        "Publishes refused with UNAVAILABLE (draining, or the log is down)."
    )
    connections_opened: int = _counter(
        "Connections accepted since start (WebSocket and SSE streams)."
    )
    # SSE (issue 18)
    sse_streams_opened: int = _counter("SSE streams (GET /sse) accepted since start.")
    sse_ops: int = _counter("Ops posted to POST /sse/ops and applied to a stream.")
    slow_clients_closed: int = _counter(
        "Connections closed with 4008 because their unsent bytes passed the send buffer limit."
    )
    bad_client_frames: int = _counter("Client frames answered with an error event.")
    heads_timed_out: int = _counter(
        "Connections answered 408: no complete request head within the handshake timeout."
    )
    heads_shed: int = _counter(
        "Connections answered 503 because too many others were sending a request head."
    )
    connections_refused: dict[int, int] = field(
        default_factory=dict,
        metadata={
            "help": "WebSocket and SSE requests refused before the upgrade or the stream, "
            "by HTTP status.",
            "label": "status",
        },
    )
    publish_latency_seconds: Histogram = field(
        default_factory=lambda: Histogram(PUBLISH_SECONDS_BUCKETS),
        metadata={
            "help": "Seconds from a publish arriving in the gRPC handler to its frames queued "
            "on every local connection it addresses (one observation per accepted notification)."
        },
    )
    fanout_connections: Histogram = field(
        default_factory=lambda: Histogram(FANOUT_BUCKETS),
        metadata={"help": "Local connections one notification was queued on."},
    )
    flush_bytes: Histogram = field(
        default_factory=lambda: Histogram(FLUSH_BYTES_BUCKETS),
        metadata={
            "help": "Bytes written to one connection in one write (its frames of one flush), "
            "sampled: the first connection of each flush pass."
        },
    )

    def refused(self, status: int) -> None:
        self.connections_refused[status] = self.connections_refused.get(status, 0) + 1


def _gauge(help_text: str) -> Any:
    return field(default=0, metadata={"help": help_text, "type": "gauge"})


@dataclass(slots=True)
class BackendStats:
    """Figures about a shared log's store (Redis); all zero for the memory log.

    Exposed as `gateway_backend_<name>` (counters with `_total`).
    """

    round_trip_seconds: Histogram = field(
        default_factory=lambda: Histogram(BACKEND_SECONDS_BUCKETS),
        metadata={"help": "Seconds per round trip to Redis (appends and replays)."},
    )
    errors: int = _counter("Calls to Redis that failed (refused, timed out, error reply).")
    followed: int = _counter(
        "Entries this replica received live from the shared log (its addresses only)."
    )
    gaps: int = _counter(
        "Times this replica found entries it had not delivered trimmed (clients closed 4010)."
    )
    follower_lag_seconds: float = _gauge(
        "Seconds between the append of the newest entry followed and its hand-off here."
    )
    follower_lag_entries: int = _gauge(
        "Entries appended (to any address) between this replica's position and the log's "
        "head at the last look (every 2 s)."
    )
    replicas: int = _gauge("Replicas subscribed to the control channel at the last count.")
    # live delivery by interest (issue 15)
    subscriptions: int = _gauge(
        "Addresses (users, topics, everyone) this replica is subscribed to for live entries, "
        "lingering ones included."
    )
    catchup_reads: int = _counter(
        "Stream reads this replica made to catch up after its live feed was interrupted."
    )
    unaddressed: int = _counter(
        "Entries this replica received that no local connection was addressed by "
        "(should stay near 0: lingering subscriptions and connections just leaving)."
    )
    # a log sharded over several Redis nodes (issue 15)
    shards_down: int = _gauge(
        "Shards of a sharded log whose Redis this replica cannot reach now (their users' "
        "connects are refused 503; topic and everyone publishes fail); 0 with one Redis."
    )


@dataclass(slots=True)
class ReceiptStats:
    """Receipts (issue 17): exposed as `gateway_<name>`; all zero while GATEWAY_RECEIPTS is off."""

    delivery_seconds: dict[str, Histogram] = field(
        default_factory=dict,
        metadata={
            "help": "Seconds from a notification's publish to the first ack of it by an "
            "addressed user (receipts on; one observation per user and notification, "
            "counted on the replica that applied the ack), by notification type: a "
            'registered type\'s name, else "other" (without a type registry, the first '
            "50 types seen by name).",
            "label": "type",
            "histograms": True,
        },
    )

    @property
    def delivered(self) -> int:
        """Observations of `delivery_seconds`, every type together."""
        return sum(histogram.count for histogram in self.delivery_seconds.values())

    undelivered: int = _counter(
        "Addressed users marked undelivered: no ack from any of their connections within "
        "the notification's receipt_deadline."
    )
    acks_applied: int = _counter("Client acks applied to the receipt store (after coalescing).")
    acks_ignored: int = _counter(
        "Client acks and reads ignored: a cursor never sent to the connection, a repeated "
        "or older ack, an id not addressed to the user, or a full ack queue (a flood)."
    )
    acks_lost: int = _counter(
        "Client acks and reads dropped because the receipt store could not be reached."
    )
    receipts_untracked: int = _counter(
        "Published notifications whose receipts could not be recorded (store unreachable): "
        "GetReceipts answers unknown for them."
    )
