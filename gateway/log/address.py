"""Where a notification can be addressed: a user, a topic, or everyone.

A replica holds an address while one of its connections is reached by it (its user, a
topic it follows, and `everyone` for every connection). A log that delivers by interest
(Redis) subscribes to what its replica holds; the memory log needs none of this.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

from gateway.models import EveryoneTarget, Target, TopicTarget, tuple_maker

__all__ = ["EVERYONE", "Address", "addresses_of", "target_addresses", "topic", "user"]


class Address(NamedTuple):
    """`kind` is `user`, `topic` or `everyone`; `name` the user id or topic (empty for
    everyone). A tuple: hashed and compared on every attach and detach."""

    kind: str
    name: str = ""

    def __str__(self) -> str:
        return f"{self.kind}:{self.name}" if self.name else self.kind


EVERYONE = Address("everyone")


def user(user_id: str) -> Address:
    return Address("user", user_id)


def topic(name: str) -> Address:
    return Address("topic", name)


#: An address made in C (`tuple_maker`): every attach and detach makes one or more.
_make_address = tuple_maker(Address)


def addresses_of(user_id: str, topics: Iterable[str]) -> list[Address]:
    """Every address that reaches a connection of `user_id` following `topics`."""
    if not topics:
        return [EVERYONE, _make_address(("user", user_id))]
    return [EVERYONE, _make_address(("user", user_id)), *(Address("topic", t) for t in topics)]


def target_addresses(target: Target) -> list[Address]:
    """The addresses a publish to `target` goes to."""
    if isinstance(target, EveryoneTarget):
        return [EVERYONE]
    if isinstance(target, TopicTarget):
        return [Address("topic", target.topic)]
    return [Address("user", uid) for uid in dict.fromkeys(target.user_ids)]
