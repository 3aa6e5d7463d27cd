"""Exponential backoff with full jitter, shared by the publisher's retries and the subscriber.

Each wait is drawn from [base, min(cap, base * 2**(attempt + 1))] so that many clients dropped
at once (a gateway restart) do not come back in step; `reset()` after a success starts
over from `base`. `RetryPolicy` bounds the publisher's retries by time, and by attempts
only as a backstop.
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass

__all__ = ["Backoff", "Retries", "RetryPolicy"]


class Backoff:
    def __init__(self, base: float, cap: float, rng: random.Random | None = None) -> None:
        if not 0 < base <= cap:
            raise ValueError("backoff needs 0 < base <= cap")
        self.base = base
        self.cap = cap
        self.attempt = 0
        self._random = rng or random.Random()

    def next_delay(self) -> float:
        """The wait before the next attempt; each call doubles the ceiling up to `cap`."""
        ceiling = min(self.cap, self.base * 2.0 ** min(self.attempt + 1, 32))
        self.attempt += 1
        return self._random.uniform(self.base, ceiling)

    def reset(self) -> None:
        self.attempt = 0


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How `AsyncPublisher` retries `UNAVAILABLE`: until `deadline` seconds have passed
    since the first try, waiting from `base` doubling to `cap` seconds (full jitter)
    between tries; `attempts` is only a backstop against a loop of instant failures, so
    with the defaults a publish rides out a gateway or Redis restart of up to ~15 s (six
    tries from 50 ms gave up after 0.6-2.7 s before, well short of the stated deadline).
    The last wait is cut short so that one more try starts at the deadline. Retrying is
    safe because every request carries an idempotency key (made by the client when the
    caller gave none)."""

    attempts: int = 100
    base: float = 0.05
    cap: float = 2.0
    deadline: float = 15.0

    def __post_init__(self) -> None:
        if self.attempts < 1 or self.deadline <= 0:
            raise ValueError("RetryPolicy needs attempts >= 1 and a positive deadline")

    def start(self) -> Retries:
        """The budget of one operation, counting its first try."""
        return Retries(self)


class Retries:
    """One operation's retry budget under a `RetryPolicy`."""

    def __init__(self, policy: RetryPolicy) -> None:
        self._policy = policy
        self._backoff = Backoff(policy.base, policy.cap)
        self._tries = 1
        self._give_up_at = time.monotonic() + policy.deadline

    @property
    def tries(self) -> int:
        return self._tries

    async def another(self) -> bool:
        """Waits before the next try and says yes, or says no at once: the deadline has
        passed or the tries are spent."""
        if self._tries >= self._policy.attempts:
            return False
        left = self._give_up_at - time.monotonic()
        if left <= 0:
            return False
        await asyncio.sleep(min(self._backoff.next_delay(), left))
        self._tries += 1
        return True
