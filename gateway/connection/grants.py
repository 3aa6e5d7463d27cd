"""Which topics a connection may follow: its token's `topics` claim, compiled once.

The claim is a list of strings, each an exact topic name or a prefix pattern ending with
`*` (`orders.*` allows `orders.42`; `*` alone allows every topic). Without the claim a
token allows any topic (`None`), unless the deployment requires the claim. A grant is
compiled once per distinct claim and shared (a bounded cache): every connection holds one
reference, and a check is a set lookup plus one `str.startswith` over the prefixes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any

__all__ = ["BadClaim", "ForbiddenTopic", "TopicGrant", "topic_grant"]

#: Distinct claims kept compiled; tokens of one role share one.
_CACHED_GRANTS = 1024


class BadClaim(ValueError):
    """A `topics` claim that is not a list of names and prefix patterns (or is missing
    where the deployment requires one)."""


class ForbiddenTopic(Exception):
    """A topic the connection's token does not allow."""

    def __init__(self, topic: str) -> None:
        super().__init__(topic)
        self.topic = topic


class TopicGrant:
    """The topics one claim allows: exact names and name prefixes."""

    __slots__ = ("_exact", "_prefixes")

    def __init__(self, exact: frozenset[str], prefixes: tuple[str, ...]) -> None:
        self._exact = exact
        self._prefixes = prefixes

    def allows(self, topic: str) -> bool:
        return topic in self._exact or topic.startswith(self._prefixes)

    def first_refused(self, topics: Iterable[str]) -> str | None:
        """The first of `topics` this grant does not allow; None if it allows them all."""
        return next((topic for topic in topics if not self.allows(topic)), None)


def topic_grant(claims: Mapping[str, Any], required: bool) -> TopicGrant | None:
    """The grant of a verified token's claims; None means any topic. `BadClaim` if malformed."""
    if "topics" not in claims:
        if required:
            raise BadClaim("no topics claim, and this gateway requires one")
        return None
    patterns = claims["topics"]
    if not isinstance(patterns, list) or not all(isinstance(p, str) for p in patterns):
        raise BadClaim("the topics claim must be a list of strings")
    return _compile(tuple(patterns))


@lru_cache(maxsize=_CACHED_GRANTS)
def _compile(patterns: tuple[str, ...]) -> TopicGrant:
    exact: set[str] = set()
    prefixes: set[str] = set()
    for pattern in patterns:
        if not pattern or "*" in pattern[:-1]:
            shown = pattern if len(pattern) <= 40 else pattern[:40] + "..."
            raise BadClaim(f"topics claim entry {shown!r}: a name, or a prefix ending with '*'")
        if pattern.endswith("*"):
            prefixes.add(pattern[:-1])
        else:
            exact.add(pattern)
    return TopicGrant(frozenset(exact), tuple(sorted(prefixes)))
