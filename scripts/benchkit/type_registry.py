"""The type registry the `types` scenario runs in strict mode: 50 types of 5-15 fields, each
with one nested array of objects, among them `bench.event`, the type every benchmark
notification has (its data: ts, lane, seq, pad, and eight optional fields it may carry).
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

#: What a full `bench.event` looks like (the cost script checks this one).
FULL_EVENT: dict[str, Any] = {
    "ts": 1733480000.123456,
    "lane": 1,
    "seq": 12345,
    "pad": "x" * 44,
    "order_id": 42,
    "carrier": "dhl",
    "eta": "2026-12-08T10:00:00Z",
    "contact": "ops@example.com",
    "link": "https://example.com/track/42",
    "tags": ["gift", "express"],
    "items": [{"sku": "ABC-1", "qty": 1}, {"sku": "DEF-2", "qty": 2}, {"sku": "GHI-3", "qty": 1}],
    "note": "leave at the door",
}

_ITEMS = {
    "type": "array",
    "maxItems": 50,
    "items": {
        "type": "object",
        "required": ["sku", "qty"],
        "additionalProperties": False,
        "properties": {
            "sku": {"type": "string", "minLength": 3},
            "qty": {"type": "integer", "minimum": 1},
        },
    },
}

_EVENT = {
    "type": "object",
    "required": ["ts", "lane", "seq", "pad"],
    "additionalProperties": False,
    "properties": {
        "ts": {"type": "number"},
        "lane": {"type": "integer", "minimum": 0},
        "seq": {"type": "integer", "minimum": 0},
        "pad": {"type": "string"},
        "order_id": {"type": "integer", "minimum": 1},
        "carrier": {"enum": ["ups", "dhl", "fedex", "post"]},
        "eta": {"type": "string", "format": "date-time"},
        "contact": {"type": "string", "format": "email"},
        "link": {"type": "string", "format": "uri"},
        "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 10},
        "items": _ITEMS,
        "note": {"type": "string", "maxLength": 500},
    },
}

_KINDS: list[dict[str, Any]] = [
    {"type": "string", "maxLength": 200},
    {"type": "integer", "minimum": 0},
    {"type": "number"},
    {"type": "boolean"},
    {"type": "string", "format": "date-time"},
    {"enum": ["a", "b", "c"]},
]


def types() -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = [{"type": "bench.event", "schema": _EVENT}]
    for n in range(49):
        fields = 4 + n % 11  # with the array: 5 to 15 fields
        props = {f"f{i}": _KINDS[(n + i) % len(_KINDS)] for i in range(fields)}
        props["lines"] = _ITEMS
        schema = {
            "type": "object",
            "required": [f"f{i}" for i in range(min(3, fields))],
            "additionalProperties": False,
            "properties": props,
        }
        entries.append({"type": f"bench.type{n:02d}", "schema": schema})
    return entries


def write_registry(directory: Path | None = None) -> Path:
    """The 50-type registry as one JSON file in `directory` (a new temporary one if None)."""
    target = directory or Path(tempfile.mkdtemp(prefix="bench-types-"))
    (target / "types.json").write_text(json.dumps(types()))
    return target
