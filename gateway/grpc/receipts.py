"""The gRPC edge of receipts (issue 17): GetReceipts and WatchReceipts.

Checks each request field (INVALID_ARGUMENT naming it), maps the store's answers to
protobuf, and a store that cannot be reached to UNAVAILABLE, as publishes do. The
servicer delegates both RPCs here so that the publish servicer stays about publishing.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import grpc
from google.protobuf.timestamp_pb2 import Timestamp
from grpc import aio

from gateway.api.v1 import gateway_pb2 as pb
from gateway.log.base import BackendUnavailable
from gateway.models import MAX_RECIPIENTS, Invalid
from gateway.receipts.model import Receipt, ReceiptUpdate, State, UserReceipt, WatchFilter
from gateway.receipts.tracker import Receipts

__all__ = ["ReceiptsApi"]

_STATES = {
    State.UNKNOWN: pb.RECEIPT_STATE_UNKNOWN,
    State.PENDING: pb.RECEIPT_STATE_PENDING,
    State.DELIVERED: pb.RECEIPT_STATE_DELIVERED,
    State.READ: pb.RECEIPT_STATE_READ,
    State.UNDELIVERED: pb.RECEIPT_STATE_UNDELIVERED,
}
#: A notification id as Publish accepts it (models.IdempotencyKey).
_ID = re.compile(r"[\x21-\x7e]{1,128}")
#: The start of a notification type (models.NotificationType), possibly cut anywhere.
_TYPE_PREFIX = re.compile(r"[a-z0-9_.-]{0,64}")
_OFF = "receipts are off on this gateway: start it with GATEWAY_RECEIPTS=1"


class ReceiptsApi:
    def __init__(self, receipts: Receipts | None) -> None:
        self._receipts = receipts

    async def get(
        self, request: pb.GetReceiptsRequest, context: aio.ServicerContext[Any, Any]
    ) -> pb.GetReceiptsResponse:
        receipts = await self._on(context)
        ids = list(request.ids)
        try:
            if not 1 <= len(ids) <= MAX_RECIPIENTS:
                raise Invalid("ids", f"1 to {MAX_RECIPIENTS} ids (got {len(ids)})")
            _check_ids(ids)
        except Invalid as exc:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        try:
            found = await receipts.get(ids)
        except BackendUnavailable as exc:
            await context.abort(grpc.StatusCode.UNAVAILABLE, str(exc))
        return pb.GetReceiptsResponse(receipts=[_receipt(r) for r in found])

    async def watch(
        self, request: pb.WatchReceiptsRequest, context: aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[pb.WatchReceiptsResponse]:
        receipts = await self._on(context)
        ids = list(request.ids)
        since = request.since or None
        try:
            if len(ids) > MAX_RECIPIENTS:
                raise Invalid("ids", f"at most {MAX_RECIPIENTS} (got {len(ids)})")
            _check_ids(ids)
            if _TYPE_PREFIX.fullmatch(request.type_prefix) is None:
                raise Invalid(
                    "type_prefix",
                    "the start of a notification type: at most 64 of a-z 0-9 _ . -",
                )
            if since is not None and not receipts.store.is_feed_cursor(since):
                raise Invalid("since", "not a receipts feed cursor from this gateway")
        except Invalid as exc:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        wanted = WatchFilter(request.type_prefix, frozenset(ids))
        try:
            async for page in receipts.watch(wanted, since):
                yield pb.WatchReceiptsResponse(
                    updates=[_update(u) for u in page.updates],
                    cursor=page.cursor,
                    complete=page.complete,
                )
        except BackendUnavailable as exc:
            await context.abort(grpc.StatusCode.UNAVAILABLE, str(exc))

    async def _on(self, context: aio.ServicerContext[Any, Any]) -> Receipts:
        if self._receipts is None:
            await context.abort(grpc.StatusCode.FAILED_PRECONDITION, _OFF)
            raise AssertionError("unreachable: abort raises")
        return self._receipts


def _check_ids(ids: list[str]) -> None:
    for i, given in enumerate(ids):
        if _ID.fullmatch(given) is None:
            raise Invalid(f"ids[{i}]", "1 to 128 printable ASCII characters without spaces")


def _timestamp(seconds: float | None) -> Timestamp | None:
    if seconds is None:
        return None
    stamp = Timestamp()
    stamp.FromNanoseconds(int(seconds * 1e9))
    return stamp


def _user(user: UserReceipt) -> pb.UserReceipt:
    return pb.UserReceipt(
        user_id=user.user_id,
        state=_STATES[user.state],
        delivered_at=_timestamp(user.delivered_at),
        read_at=_timestamp(user.read_at),
        undelivered_at=_timestamp(user.undelivered_at),
    )


def _receipt(receipt: Receipt) -> pb.Receipt:
    audience = receipt.audience
    return pb.Receipt(
        id=receipt.notification_id,
        state=_STATES[receipt.state],
        type=receipt.type,
        cursor=receipt.cursor,
        published_at=_timestamp(receipt.published_at),
        deadline=_timestamp(receipt.deadline),
        users=[_user(u) for u in receipt.users],
        audience=None
        if audience is None
        else pb.AudienceReceipt(
            delivered=audience.delivered, read=audience.read, capped=audience.capped
        ),
    )


def _update(update: ReceiptUpdate) -> pb.ReceiptUpdate:
    return pb.ReceiptUpdate(
        cursor=update.cursor,
        id=update.notification_id,
        type=update.type,
        user_id=update.user_id,
        state=_STATES[update.state],
        at=_timestamp(update.at),
    )
