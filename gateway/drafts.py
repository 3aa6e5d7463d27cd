"""`NotificationService.publish_many`'s per-item loops for the common batch, in C.

`drafts_of` makes a batch's `Draft`s when every item is of the common form (a
`PublishItem` whose notification is a `NotificationItem` without a receipt deadline,
encoded within the size limit), so that no item has an outcome but its result; else
None, and the service's own loop decides each item (the type registry, an `Invalid`'s
message, receipts). `tally` counts a batch's results as the service's loop did. The two
loops cost ~3.4k instructions per notification in Python besides the encode (callgrind);
in `gateway._publish` (csrc/drafts.c) a few hundred. The `_py` functions are the twins:
tests/unit/test_speedups_drafts.py holds them together.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from gateway.log.base import AppendResult, Draft
from gateway.models import Invalid, NotificationItem, PublishItem, encode_notification, tuple_maker
from gateway.receipts.tracker import deadline_refusal
from gateway.speedups import compiled

if TYPE_CHECKING:
    from gateway.receipts.tracker import Receipts
    from gateway.types import TypeRegistry

__all__ = ["PENDING", "drafts_each", "drafts_of", "drafts_of_py", "tally", "tally_py"]

#: Made per item (models.tuple_maker: later fields take their defaults).
_draft = tuple_maker(Draft, 6)

#: Placeholder for an outcome that the log call will fill in.
PENDING = AppendResult("", 0)

#: (published, delivered, duplicates, conflicts)
Tally = tuple[int, int, int, int]


def drafts_of_py(items: list[PublishItem], max_bytes: int, trace: str | None) -> list[Draft] | None:
    """Every item's `Draft`, or None when one is not of the common form (see the module)."""
    drafts = []
    for item in items:
        if type(item) is not PublishItem:
            return None
        notification = item.notification
        if type(notification) is not NotificationItem or notification.receipt_deadline is not None:
            return None
        body = encode_notification(notification)
        if len(body) > max_bytes:
            return None
        drafts.append(_draft((item.target, notification.id, body, notification.ttl, None, trace)))
    return drafts


def drafts_each(
    items: list[PublishItem],
    accepted_at: float,
    trace: str | None,
    max_bytes: int,
    types: TypeRegistry | None,
    receipts: Receipts | None,
) -> tuple[list[AppendResult | Invalid], list[Draft]]:
    """Any batch, item by item: each item's outcome (`PENDING`: drafted) and the drafts.
    The type registry's verdict, the size limit's `Invalid`, receipts' deadline refusal:
    the rules `drafts_of` leaves to this loop by declining the batch."""
    outcomes: list[AppendResult | Invalid] = []
    drafts: list[Draft] = []
    for item in items:
        if types is not None:  # the type registry (issue 16): its data's schema, target kind
            verdict = types.check(item)
            if verdict is not None:
                if isinstance(verdict, Invalid):
                    outcomes.append(verdict)
                    continue
                item = verdict  # the type's default priority / ttl filled in
        notification = item.notification
        body = encode_notification(notification)
        if len(body) > max_bytes:
            outcomes.append(
                Invalid(
                    "notification",
                    f"encoded size {len(body)} bytes exceeds the limit of {max_bytes}",
                )
            )
            continue
        receipt_until = None
        if notification.receipt_deadline is not None:
            refusal = deadline_refusal(notification.receipt_deadline.total_seconds(), receipts)
            if refusal is not None:
                outcomes.append(refusal)
                continue
            receipt_until = accepted_at + notification.receipt_deadline.total_seconds()
        outcomes.append(PENDING)
        drafts.append(
            _draft((item.target, notification.id, body, notification.ttl, receipt_until, trace))
        )
    return outcomes, drafts


def tally_py(results: list[AppendResult]) -> Tally:
    """(published, delivered, duplicates, conflicts) of a batch's results."""
    published = delivered = duplicates = conflicts = 0
    for result in results:
        if result.conflict:
            conflicts += 1
        elif result.duplicate:
            duplicates += 1
        else:
            published += 1
            delivered += result.delivered
    return published, delivered, duplicates, conflicts


def _compiled() -> tuple[
    Callable[[list[PublishItem], int, str | None], list[Draft] | None] | None,
    Callable[[list[AppendResult]], Tally | None] | None,
]:
    module = compiled("_publish")
    if module is None:
        return None, None
    fields: tuple[str, ...] = Draft._fields
    tail = tuple(Draft._field_defaults[name] for name in fields[6:])
    module.configure_drafts(PublishItem, NotificationItem, Draft, tail, encode_notification)
    return module.drafts_of, module.tally


#: C when built (None there: the service's loop decides), else the twin.
_drafts_of, _tally = _compiled()
drafts_of = _drafts_of or drafts_of_py


def tally(results: list[AppendResult]) -> Tally:
    """`tally_py`'s counts, in C when built (it declines results of another shape)."""
    if _tally is not None:
        counted = _tally(results)
        if counted is not None:
            return counted
    return tally_py(results)
