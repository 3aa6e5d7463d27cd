"""The memory receipt store's loop forgetting its oldest notifications, `forget_oldest`,
with its compiled twin (gateway/csrc/receipts_forget.c, module `gateway._receipts`).

Every long-running gateway reaches the store's bound (GATEWAY_RECEIPTS_MAX) and from then
on forgets one notification for every one it tracks: in Python, ~5k instructions per
notification forgotten (`scripts/profile-receipts --max-tracked`), the target's user_ids
through the model's `__getattr__` hook and a method call per user most of it. This is
the loop as a plain function over the store's lists and dicts, so that one C call does
it; the store (memory.py) keeps the rest (trimming the lists' forgotten front).
`forget_oldest_py` is the reference the C is held to
(tests/unit/test_speedups_receipts_forget.py) and what runs without the module.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any, cast

from gateway.receipts.marks import Mark
from gateway.receipts.rec import RecLike
from gateway.speedups import compiled

__all__ = ["forget_oldest", "forget_oldest_py", "unwait"]


def unwait(waiting: dict[str, list[RecLike]], user_id: str, seq: int) -> None:
    """`seq` no longer waits for `user_id`'s ack (read, or forgotten). A list left (or
    found) empty is dropped."""
    queue = waiting.get(user_id)
    if queue is None:
        return
    for i, rec in enumerate(queue):  # the oldest is nearly always the first
        if rec.seq == seq:
            del queue[i]
            break
    if not queue:
        del waiting[user_id]


def forget_oldest_py(
    items: list[Any],
    slots: list[Any],
    ids: dict[str, int],
    waiting: dict[str, list[RecLike]],
    broadcast_at: list[Mark],
    broadcast_seqs: list[int],
    gone: int,
    base: int,
    indexed: int,
    max_tracked: int,
    horizon: float,
    users_target: type[Any],
    settled: tuple[object, ...],
) -> int:
    """Forget the oldest tracked notifications (`items[gone:]`, seq `base + gone` on) while
    more than `max_tracked` are kept or the oldest was published before `horizon`: its id
    (where the store indexed it: seqs before `indexed`, and the id not republished since),
    its place in its users' waiting lists (or the broadcasts' lists) and its slots (None).
    A one-user notification whose receipt is in a `settled` state (delivered, read) is in
    no waiting list (acks and reads take it out): its user is not looked up, which was
    most of what forgetting cost a running gateway (its target, user_ids, dict entry and
    list each a cache miss by then). Answers where the kept ones start (the new `gone`)."""
    while gone < len(items):
        item = items[gone]
        if item is None:  # pragma: no cover - slots before `_gone` only
            gone += 1
            continue
        if len(items) - gone <= max_tracked and item[4] >= horizon:
            break
        seq = base + gone
        if seq < indexed and ids.get(item[0]) == seq:  # else never indexed, or republished
            del ids[item[0]]
        target = item[3]
        slot = slots[gone]
        if isinstance(slot, tuple) and len(slot) >= 2 and slot[1] in settled:
            pass  # in no waiting list
        elif type(target) is users_target:
            for user_id in target.user_ids:  # one named twice: nothing left the second time
                unwait(waiting, user_id, seq)
        else:
            # the oldest broadcast is (almost always) the first in cursor order
            with contextlib.suppress(ValueError):
                i = broadcast_seqs.index(seq)
                del broadcast_at[i]
                del broadcast_seqs[i]
        items[gone] = slots[gone] = None
        gone += 1
    return gone


ForgetOldest = Callable[..., int]


def _load() -> ForgetOldest:
    module = compiled("_receipts")
    if module is None or not hasattr(module, "forget_oldest"):
        return forget_oldest_py
    return cast(ForgetOldest, module.forget_oldest)


forget_oldest = _load()
