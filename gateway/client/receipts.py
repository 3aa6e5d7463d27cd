"""Receipts for publishers: `GetReceipts`, and the `WatchReceipts` feed as an async iterator.

async for update in pub.receipts(type_prefix="order."):
    if update.state == pb.RECEIPT_STATE_UNDELIVERED:
        send_email(update.user_id, update.id)
    save(update.cursor)   # after a restart: pub.receipts(since=saved)

The feed reconnects by itself from the last cursor it handed out when the gateway is
unavailable (a replica restarting, Redis down), with backoff, so a long-lived watcher
misses nothing the feed still retains. When it cannot resume completely (the cursor is
older than what the feed keeps, or the store was replaced), it raises `ReceiptsIncomplete`
instead of carrying on as if nothing was lost: read the receipts of what is outstanding
with `get_receipts`, then watch again from `error.cursor`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence

import grpc
from grpc import aio

from gateway.api.v1 import gateway_pb2 as pb
from gateway.api.v1 import gateway_pb2_grpc as pb_grpc
from gateway.client.backoff import Backoff
from gateway.client.errors import PublishError

__all__ = ["ReceiptsIncomplete", "watch_receipts"]


class ReceiptsIncomplete(Exception):
    """The feed could not resume after the cursor given: updates in between were dropped.

    `cursor` is where the feed stands now: watch from it after reading what you need
    with `get_receipts`.
    """

    def __init__(self, since: str, cursor: str) -> None:
        super().__init__(
            f"the receipts feed no longer holds everything after {since!r}: "
            "read the receipts you wait for with get_receipts, then watch from .cursor"
        )
        self.since = since
        self.cursor = cursor


async def watch_receipts(
    stub: Callable[[], pb_grpc.NotificationGatewayStub],
    metadata: Sequence[tuple[str, str]],
    *,
    type_prefix: str = "",
    ids: Sequence[str] = (),
    since: str | None = None,
) -> AsyncIterator[pb.ReceiptUpdate]:
    """Updates from the feed (see the module); `PublishError` for anything but
    UNAVAILABLE (a bad field, receipts off, unauthenticated)."""
    cursor = since
    backoff = Backoff(0.1, 2.0)
    while True:
        request = pb.WatchReceiptsRequest(
            type_prefix=type_prefix, ids=list(ids), since=cursor or ""
        )
        call = stub().WatchReceipts(request, metadata=metadata)
        first = True
        try:
            async for response in call:
                if first and cursor is not None and not response.complete:
                    raise ReceiptsIncomplete(cursor, response.cursor)
                first = False
                backoff.reset()
                for update in response.updates:
                    cursor = update.cursor
                    yield update
                cursor = response.cursor
        except aio.AioRpcError as exc:
            if exc.code() != grpc.StatusCode.UNAVAILABLE:
                raise PublishError(exc.code(), exc.details() or "") from exc
        finally:
            call.cancel()
        # a stream that ended (a replica draining) or was refused as unavailable: again,
        # from the last cursor (none yet: from now, as nothing was handed out)
        await asyncio.sleep(backoff.next_delay())
