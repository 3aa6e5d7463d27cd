"""Where inside a notification's `data` something is, spelled for people and for JSON.

Errors name a place the way the .proto spells the request (`notification.data.items[2].sku`,
a key that is not a plain word quoted: `notification.data["a.b"]`); registry files are
pointed into with RFC 6901 JSON pointers (`/0/schema/properties/sku`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable

__all__ = ["data_path", "json_pointer"]

_WORD = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def data_path(parts: Iterable[str | int], prefix: str = "notification.data") -> str:
    """`prefix` followed by `.key` / `[index]` / `["odd key"]` for each part; an index of
    -1 stands for every item of an array (`items[].sku`, in `types diff`)."""
    path = prefix
    for part in parts:
        if part == -1:
            path += "[]"
        elif isinstance(part, int):
            path += f"[{part}]"
        elif _WORD.match(part):
            path += f".{part}"
        else:
            path += f"[{json.dumps(part, ensure_ascii=False)}]"
    return path


def json_pointer(parts: Iterable[str | int]) -> str:
    """The RFC 6901 pointer of a location (`""` for the whole document)."""
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)
