"""One registered notification type, and one loaded registry (a `Snapshot`), as typed values.

A `TypeEntry` is what a registry file declares for a type: the JSON Schema of its `data`
and its metadata, with the compiled validator beside it. A `Snapshot` is a whole registry
as loaded at one moment, immutable: a reload builds a new one and swaps it in whole, so a
publish is checked against one registry or the other, never a mix.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Literal

import jsonschema_rs

from gateway.models import Priority

__all__ = ["BASE_URI", "SharedSchema", "Snapshot", "TargetKind", "TypeEntry"]

TargetKind = Literal["users", "topic", "everyone"]

#: The base URI every registry schema lives under: `order.shipped`'s schema is
#: `https://types.gateway.invalid/order.shipped`, so a `$ref` of `"money"` inside it names
#: the shared schema `money`. `.invalid` is reserved (RFC 2606): nothing is ever fetched.
BASE_URI = "https://types.gateway.invalid/"


@dataclass(frozen=True, slots=True)
class TypeEntry:
    """A notification type: the schema its `data` must match, and what to tell people."""

    name: str
    schema: dict[str, Any] | bool
    validator: jsonschema_rs.Validator = field(compare=False, repr=False)
    #: Where it was declared: `orders.yaml#/0`, for messages and the served form.
    source: str
    description: str = ""
    example: dict[str, Any] | None = None
    #: False, True, or the reason (`"use order.dispatched"`).
    deprecated: bool | str = False
    #: The target kinds it may be published to; None: any.
    targets: frozenset[TargetKind] | None = None
    #: Filled in when a publish leaves priority unset (PRIORITY_UNSPECIFIED) / ttl unset.
    priority: Priority | None = None
    ttl: timedelta | None = None

    def public(self) -> dict[str, Any]:
        """The entry as served (`GET /types`, `ListTypes`) and hashed."""
        served: dict[str, Any] = {"type": self.name, "schema": self.schema}
        if self.description:
            served["description"] = self.description
        if self.example is not None:
            served["example"] = self.example
        if self.deprecated is not False:
            served["deprecated"] = self.deprecated
        if self.targets is not None:
            served["targets"] = sorted(self.targets)
        if self.priority is not None:
            served["priority"] = self.priority
        if self.ttl is not None:
            served["ttl_seconds"] = self.ttl.total_seconds()
        return served


@dataclass(frozen=True, slots=True)
class SharedSchema:
    """A schema that types refer to with `$ref` (`{"$ref": "money"}`) and that is not a type."""

    name: str
    schema: dict[str, Any] | bool
    source: str
    description: str = ""

    def public(self) -> dict[str, Any]:
        served: dict[str, Any] = {"shared": self.name, "schema": self.schema}
        if self.description:
            served["description"] = self.description
        return served


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A registry as loaded: types by name, shared schemas by name, and its hash."""

    types: dict[str, TypeEntry]
    shared: dict[str, SharedSchema]
    #: Where it was loaded from (for messages); "" for an empty registry.
    directory: str = ""
    hash: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "hash", _digest(self.document()))

    def document(self) -> dict[str, Any]:
        """Everything a client may know, in a stable order: the body of `GET /types`."""
        return {
            "types": [self.types[name].public() for name in sorted(self.types)],
            "shared": [self.shared[name].public() for name in sorted(self.shared)],
        }

    def schemas(self) -> dict[str, dict[str, Any] | bool]:
        """Every schema by name (types and shared), for resolving `$ref`s outside the loader."""
        named: dict[str, dict[str, Any] | bool] = {n: s.schema for n, s in self.shared.items()}
        named.update((n, t.schema) for n, t in self.types.items())
        return named


def _digest(document: dict[str, Any]) -> str:
    text = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()[:16]
