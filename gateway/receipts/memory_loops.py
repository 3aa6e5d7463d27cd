"""The memory receipt store's two per-item loops, `track_users` and `apply_acks`, with
their compiled twins (module `gateway._receipts`).

Tracking each published notification (its slots appended, its user's waiting list) and
applying each ack (what it covers taken from the front of the user's waiting list, each
turned `delivered`) were, in Python, ~6k instructions per notification and ~4k per ack
(scripts/profile-receipts), nearly all of it the interpreter's own work. These are the
loops as plain functions over the store's lists and dicts, so that one C call does them;
the store (memory.py) keeps everything else (the uncommon items, broadcasts, reads,
deadlines, forgetting). `track_users_py` and `apply_acks_py` are the reference the C
(receipts_store.c, receipts_apply.c) is held to (tests/unit/test_speedups_receipts_store.py)
and what runs without the module.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

from gateway.receipts.marks import Mark, cursor_mark
from gateway.receipts.rec import Rec, RecLike
from gateway.speedups import compiled

__all__ = ["apply_acks", "apply_acks_py", "track_users", "track_users_py"]

#: A NamedTuple from its values without its constructor's keyword handling (as
#: models.tuple_maker's twin makes them).
_new = tuple.__new__


def track_users_py(
    items: list[Any],
    start: int,
    tracked: list[Any],
    slots: list[Any],
    waiting: dict[str, list[RecLike]],
    seq: int,
    last_at: Mark | None,
    pending: object,
    users_target: type[Any],
) -> tuple[int, int, Mark | None]:
    """Track `items[start:]` while each is the common case: a `Tracked` to one user
    (`users_target` with one id) without a deadline, whose cursor is of the common shape
    and after `last_at` (so the user's list stays in order by appending). Stops at the
    first other item; answers `(where it stopped, the next seq, the last mark tracked)`.
    Ids are not indexed here: the store indexes them when one is looked up (`_index`)."""
    i, n = start, len(items)
    while i < n:
        item = items[i]
        target: Any = item[3]
        if type(target) is not users_target or item[5] is not None:
            break
        user_ids = target.user_ids
        if len(user_ids) != 1:
            break
        at = cursor_mark(item[2])
        if at is None or (last_at is not None and not at > last_at):
            break
        i += 1
        last_at = at
        tracked.append(item)
        slots.append(pending)
        rec = Rec(seq, at)
        user_id = user_ids[0]
        queue = waiting.get(user_id)
        if queue is None:
            waiting[user_id] = [rec]
        else:
            queue.append(rec)
        seq += 1
    return i, seq, last_at


def apply_acks_py(
    acks: list[Any],
    waiting: dict[str, list[RecLike]],
    slots: list[Any],
    tracked: list[Any],
    base: int,
    done: list[Any],
    feed_append: Callable[[Any], object],
    user_receipt: type,
    delivered: object,
    now: float,
) -> int:
    """Each ack `(user_id, topics, low, high)` (an `Ack`) takes from the front of its
    user's waiting list (in cursor order) what it covers, `(low, high]`: those users'
    receipts turn `delivered` at `now` (a `user_receipt`, keeping `undelivered_at`), each
    notification's `Tracked` is appended to `done` (the histogram reads its publish time
    and type: `Applied.delivered`) and an entry to the feed. Answers how many turned
    delivered. Broadcasts are the store's.

    A list emptied stays in `waiting`, empty, for the user's next notification (the
    store drops the empty ones when it trims its lists); a receipt with no
    `undelivered_at` is one shared by the batch, its user_id "" (filled in when read out,
    as `_PENDING`'s): a dict deletion and insertion, a list and a receipt per delivered
    user were ~0.5k instructions an ack."""
    count = 0
    shared: Any = None
    for ack in acks:
        user_id, low, high = ack[0], ack[2], ack[3]
        queue = waiting.get(user_id)
        if not queue:
            continue
        size = len(queue)
        i = 0
        while i < size and queue[i].mark <= low:
            i += 1
        j = i
        while j < size:
            rec = queue[j]
            if rec.mark > high:
                break
            k = rec.seq - base
            j += 1
            slot = slots[k]
            was = slot[user_id][4] if type(slot) is dict else slot[4]
            made: Any
            if was is not None:
                made = _new(user_receipt, (user_id, delivered, now, None, was))
            elif shared is None:
                made = shared = _new(user_receipt, ("", delivered, now, None, None))
            else:
                made = shared
            if type(slot) is dict:
                slot[user_id] = made
            else:
                slots[k] = made
            item = tracked[k]
            done.append(item)
            feed_append((item, user_id, delivered, now))
        if j > i:
            count += j - i
            del queue[i:j]
    return count


TrackUsers = Callable[..., tuple[int, int, "Mark | None"]]
ApplyAcks = Callable[..., int]


def _load() -> tuple[TrackUsers, ApplyAcks]:
    module = compiled("_receipts")
    if module is None or not hasattr(module, "track_users"):
        return track_users_py, apply_acks_py
    return cast(TrackUsers, module.track_users), cast(ApplyAcks, module.apply_acks)


track_users, apply_acks = _load()
