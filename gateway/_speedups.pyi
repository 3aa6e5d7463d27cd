"""Types of the compiled module built from gateway/csrc (see gateway/speedups.py)."""

from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any

from gateway.log import AppendResult
from gateway.models import Invalid, Notification, NotificationItem, PublishItem

def encode_accepted(ids: Sequence[str], results: Sequence[AppendResult], /) -> bytes | None: ...
def configure(
    users: dict[tuple[str, ...], Any],
    users_miss: Callable[[tuple[str, ...]], Any],
    topics: dict[str, Any],
    topics_miss: Callable[[str], Any],
    everyone: Any,
    types: set[str],
    known_type: Callable[[str], bool],
    data_json: Callable[[str], dict[str, Any]],
    invalid: type[Invalid],
    priorities: tuple[str | None, ...],
    publish_item: type[PublishItem],
    notification_item: type[NotificationItem],
    max_items: int,
    publish_tail: tuple[Any, ...],
    notification_tail: tuple[Any, ...],
    /,
) -> None: ...
def read_batch(
    data: bytes,
    accepted_at: datetime,
    ids: Iterator[str],
    fallback: Callable[[int], PublishItem | Invalid],
    /,
) -> list[PublishItem | Invalid] | None: ...
def configure_encode(
    fallback: Callable[[Notification | NotificationItem], bytes],
    notification_item: type[NotificationItem],
    dumps: Callable[[Any], bytes],
    /,
) -> None: ...
def encode_notification(notification: Notification | NotificationItem, /) -> bytes: ...
def may_hold_huge_number(text: str, /) -> bool: ...
def tuple_maker(
    cls: type[tuple[Any, ...]], tail: tuple[Any, ...], fallback: Callable[[Any], Any], /
) -> Callable[[tuple[Any, ...]], Any]: ...
def configure_fingerprint(
    fallback: Callable[[Any, bytes], int], users: type, topic: type, marker: bytes, /
) -> None: ...
def local_fingerprint(target: Any, body: bytes, /) -> int: ...
def configure_frame(
    fallback: Callable[[str, bytes], bytes], head: bytes, mid: bytes, /
) -> None: ...
def notification_frame(cursor: str, body: bytes, /) -> bytes: ...
def configure_json(from_json: Callable[..., Any], /) -> None: ...
def send_frame(fd: int, data: bytes, /) -> int: ...
def configure_write_each(outbox: type, direct_fd: Callable[[Any], int], /) -> None: ...
def write_each(conns: Iterable[Any], item: Any, /) -> None: ...
def canonical_json(text: bytes, /) -> bytes | None: ...
def first_then(
    first: Callable[[Any, str], bool], rest: Callable[[Any, str], None], /
) -> Callable[[Any, str], None]: ...
