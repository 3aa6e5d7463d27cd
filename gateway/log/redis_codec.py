"""How the Redis log's entries look on the wire: stream fields, live messages, channels.

One place decodes both forms of an entry (a stream row, read for replays and catch-up, and
a live pub/sub message, see `redis_scripts`), so they cannot drift apart.
"""

from __future__ import annotations

from gateway.log.address import Address
from gateway.log.base import Entry
from gateway.models import EveryoneTarget, Target, TopicTarget, UsersTarget

__all__ = ["Channels", "decode_target", "entry_of", "parse_message", "stream_key"]

_EVERYONE = EveryoneTarget()
Fields = dict[bytes, bytes]


def decode_target(raw: bytes) -> Target:
    """The target `encode_target` wrote; already validated at publish, so not again."""
    kind, rest = raw[:1], raw[1:].decode()
    if kind == b"u":
        return UsersTarget.model_construct(user_ids=tuple(rest.split(",")))
    if kind == b"t":
        return TopicTarget.model_construct(topic=rest)
    return _EVERYONE


def stream_key(sid: bytes | str) -> tuple[int, int]:
    """What orders stream ids (`<ms>-<n>`)."""
    text = sid.decode() if isinstance(sid, bytes) else sid
    ms, _, n = text.partition("-")
    return int(ms), int(n or 0)


def entry_of(epoch: str, sid: bytes, fields: Fields) -> Entry:
    """The entry a stream row (or a live message) holds."""
    until = fields.get(b"r")
    receipt_until = fields.get(b"k")
    trace = fields.get(b"p")
    return Entry(
        f"{epoch}.{sid.decode()}",
        decode_target(fields[b"t"]),
        fields[b"i"].decode(),
        fields[b"b"],
        float(until) if until else None,
        float(receipt_until) if receipt_until else None,
        trace.decode() if trace else None,
    )


def parse_message(data: bytes) -> tuple[bytes, Fields]:
    """A live message's stream id and fields: `<n>\\n<id>\\n<n header items>\\n<body>`."""
    count, _, rest = data.partition(b"\n")
    parts = rest.split(b"\n", int(count) + 1)
    fields = dict(zip(parts[1:-1:2], parts[2:-1:2], strict=True))
    fields[b"b"] = parts[-1]
    return parts[0], fields


class Channels:
    """The pub/sub channel of each address under one key prefix (bytes: as Redis sends)."""

    __slots__ = ("everyone", "prefix")

    def __init__(self, prefix: str) -> None:
        self.prefix = f"{prefix}:"
        self.everyone = f"{self.prefix}e".encode()

    def of(self, address: Address) -> bytes:
        if address.kind == "user":
            return f"{self.prefix}u:{address.name}".encode()
        if address.kind == "topic":
            return f"{self.prefix}t:{address.name}".encode()
        return self.everyone

    def of_target(self, raw: bytes) -> list[bytes]:
        """The channels an encoded target (`encode_target`) is published on."""
        kind, rest = raw[:1], raw[1:]
        prefix = self.prefix.encode()
        if kind == b"u":
            return [prefix + b"u:" + uid for uid in rest.split(b",")]
        if kind == b"t":
            return [prefix + b"t:" + rest]
        return [self.everyone]
