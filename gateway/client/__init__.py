"""Python clients for the gateway: publishers over gRPC and a subscriber over WebSocket.

- `Publisher`: blocking, one `Publish` per call (scripts, the CLI).
- `AsyncPublisher`: asyncio; publish, publish_batch, stream; retries `UNAVAILABLE`;
  optional automatic batching, the way to publish at high rates from many coroutines.
- `Subscriber`: an async iterator of a user's notifications that reconnects, resumes
  with the last cursor and every followed topic, and says when a resume was incomplete.

Nothing here imports the server: only the generated gRPC code and `gateway.contract`
(the publish limits and the id format, shared with the server).
"""

from gateway.client.async_publisher import AsyncPublisher, PublisherStats
from gateway.client.backoff import RetryPolicy
from gateway.client.build import publish_request
from gateway.client.close_policy import CLOSE_POLICY, CloseAction
from gateway.client.errors import PublishError, SubscriberRefused, SubscriberStopped
from gateway.client.items import Notification, Resync, StateChange
from gateway.client.publisher import Publisher
from gateway.client.receipts import ReceiptsIncomplete
from gateway.client.stream import PublishStream
from gateway.client.subscriber import Subscriber

__all__ = [
    "CLOSE_POLICY",
    "AsyncPublisher",
    "CloseAction",
    "Notification",
    "PublishError",
    "PublishStream",
    "Publisher",
    "PublisherStats",
    "ReceiptsIncomplete",
    "Resync",
    "RetryPolicy",
    "StateChange",
    "Subscriber",
    "SubscriberRefused",
    "SubscriberStopped",
    "publish_request",
]
