"""The gRPC edge of the type registry (issue 16): ListTypes.

The registry's snapshot as protobuf (schemas and examples as JSON text, as `data_json`
carries data), built once per registry hash and reused until a reload changes it; an
`if_none_match` naming the hash in force answers `unchanged` with nothing else.
"""

from __future__ import annotations

import json
from typing import Any

from google.protobuf.duration_pb2 import Duration
from grpc import aio

from gateway.api.v1 import gateway_pb2 as pb
from gateway.types import Snapshot, TypeEntry, TypeRegistry

__all__ = ["TypesApi"]

_PRIORITIES = {
    "low": pb.PRIORITY_LOW,
    "normal": pb.PRIORITY_NORMAL,
    "high": pb.PRIORITY_HIGH,
    "urgent": pb.PRIORITY_URGENT,
}
_EMPTY = Snapshot({}, {})


class TypesApi:
    def __init__(self, registry: TypeRegistry | None) -> None:
        self._registry = registry
        self._cached: tuple[str, pb.ListTypesResponse] = ("", pb.ListTypesResponse())

    async def list(
        self, request: pb.ListTypesRequest, context: aio.ServicerContext[Any, Any]
    ) -> pb.ListTypesResponse:
        registry = self._registry
        snapshot = registry.snapshot if registry is not None else _EMPTY
        mode = registry.mode if registry is not None else "off"
        if request.if_none_match and request.if_none_match == snapshot.hash:
            return pb.ListTypesResponse(hash=snapshot.hash, mode=mode, unchanged=True)
        key = f"{snapshot.hash}-{mode}"
        if self._cached[0] != key:
            self._cached = (key, _response(snapshot, mode))
        return self._cached[1]


def _response(snapshot: Snapshot, mode: str) -> pb.ListTypesResponse:
    response = pb.ListTypesResponse(hash=snapshot.hash, mode=mode)
    for name in sorted(snapshot.types):
        response.types.append(_registered(snapshot.types[name]))
    for name in sorted(snapshot.shared):
        shared = snapshot.shared[name]
        response.shared.add(
            name=name, description=shared.description, schema_json=_json(shared.schema)
        )
    return response


def _registered(entry: TypeEntry) -> pb.RegisteredType:
    served = pb.RegisteredType(
        type=entry.name,
        description=entry.description,
        schema_json=_json(entry.schema),
        example_json=_json(entry.example) if entry.example is not None else "",
        deprecated=entry.deprecated is not False,
        deprecation=entry.deprecated if isinstance(entry.deprecated, str) else "",
        targets=sorted(entry.targets or ()),
        default_priority=_PRIORITIES[entry.priority] if entry.priority else pb.PRIORITY_UNSPECIFIED,
    )
    if entry.ttl is not None:
        ttl = Duration()
        ttl.FromTimedelta(entry.ttl)
        served.default_ttl.CopyFrom(ttl)
    return served


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
