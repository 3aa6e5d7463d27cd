"""What changed between two registries, and which changes break what is already deployed.

Breaking (a publisher's accepted notification would now be refused, or a reader loses what
it reads): a type removed or its allowed targets narrowed; in a schema, a property removed
(a rename is a removal plus an addition), a type narrowed (`["string", "null"]` to
`"string"`, `number` to `integer`), a field made required, an enum value removed (or an
enum or const added), `additionalProperties` / `unevaluatedProperties` tightened to false,
a bound narrowed (minimum raised, maxLength lowered, ...), a `pattern` or `format` added or
changed, a composition (`anyOf`, `oneOf`, `allOf`) that lost an alternative. Safe: new
types, new optional properties, enum values added, bounds widened, metadata. `$ref`s are
followed into the registry's schemas on both sides; a schema the walk cannot compare is
reported as breaking, never waved through.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from gateway.types.entry import Snapshot
from gateway.types.paths import data_path

__all__ = ["Change", "breaking_changes", "diff"]

_LOWER_BOUNDS = ("minimum", "exclusiveMinimum", "minLength", "minItems", "minProperties")
_UPPER_BOUNDS = ("maximum", "exclusiveMaximum", "maxLength", "maxItems", "maxProperties")
_COMPOSITIONS = ("anyOf", "oneOf")
_MAX_DEPTH = 32  # recursive schemas ($ref to an ancestor) stop here


@dataclass(frozen=True, slots=True)
class Change:
    type: str
    where: str
    what: str
    breaking: bool

    def __str__(self) -> str:
        mark = "BREAKING" if self.breaking else "ok"
        where = f" {self.where}:" if self.where else ""
        return f"{mark} {self.type}:{where} {self.what}"


def breaking_changes(old: Snapshot, new: Snapshot) -> list[Change]:
    return [change for change in diff(old, new) if change.breaking]


def diff(old: Snapshot, new: Snapshot) -> list[Change]:
    """Every change from `old` to `new`, types in name order."""
    changes: list[Change] = []
    for name in sorted(old.types.keys() | new.types.keys()):
        before, after = old.types.get(name), new.types.get(name)
        if after is None:
            changes.append(Change(name, "", "type removed", breaking=True))
            continue
        if before is None:
            changes.append(Change(name, "", "type added", breaking=False))
            continue
        if before.targets != after.targets:
            lost = (before.targets or {"users", "topic", "everyone"}) - (
                after.targets or {"users", "topic", "everyone"}
            )
            what = (
                f"targets narrowed: no longer {', '.join(sorted(lost))}"
                if lost
                else "targets widened"
            )
            changes.append(Change(name, "target", what, breaking=bool(lost)))
        walk = _Walk(name, old.schemas(), new.schemas(), changes)
        walk.compare(before.schema, after.schema, [], name, name, 0)
    return changes


class _Walk:
    def __init__(
        self,
        type_name: str,
        old: dict[str, dict[str, Any] | bool],
        new: dict[str, dict[str, Any] | bool],
        changes: list[Change],
    ) -> None:
        self._type = type_name
        self._old = old
        self._new = new
        self._changes = changes

    def _add(self, path: list[str | int], what: str, breaking: bool = True) -> None:
        self._changes.append(Change(self._type, data_path(path), what, breaking))

    def compare(
        self, old: Any, new: Any, path: list[str | int], old_doc: str, new_doc: str, depth: int
    ) -> None:
        if depth > _MAX_DEPTH:
            return
        old, old_doc = _resolve(old, old_doc, self._old)
        new, new_doc = _resolve(new, new_doc, self._new)
        if old == new and '"$ref"' not in json.dumps(old):  # equal text, unless refs differ behind
            return
        if old is None or new is None:
            self._add(path, "a $ref that cannot be followed changed")
            return
        old_schema = {} if old is True else old
        new_schema = {} if new is True else new
        if new is False:
            self._add(path, "accepts nothing now")
            return
        if old is False:
            return  # accepted nothing before: anything is wider
        self._types(old_schema, new_schema, path)
        self._values(old_schema, new_schema, path)
        self._bounds(old_schema, new_schema, path)
        self._objects(old_schema, new_schema, path, old_doc, new_doc, depth)
        if "items" in old_schema or "items" in new_schema:
            self.compare(
                old_schema.get("items", True),
                new_schema.get("items", True),
                [*path, -1],
                old_doc,
                new_doc,
                depth + 1,
            )
        for keyword in _COMPOSITIONS:
            lost = [s for s in old_schema.get(keyword, []) if s not in new_schema.get(keyword, [])]
            if lost or (keyword in new_schema and keyword not in old_schema):
                self._add(path, f"{keyword} lost or gained a constraint: cannot tell it is safe")
        if old_schema.get("allOf") != new_schema.get("allOf") and new_schema.get("allOf"):
            extra = [s for s in new_schema["allOf"] if s not in old_schema.get("allOf", [])]
            if extra:
                self._add(path, "allOf gained a schema: cannot tell it is safe")

    def _types(self, old: dict[str, Any], new: dict[str, Any], path: list[str | int]) -> None:
        before, after = _type_set(old), _type_set(new)
        if after is None or before == after:
            return
        widened = after | ({"integer"} if "number" in after else set())
        lost = (before or {"any type"}) - widened
        if lost:
            self._add(path, f"type narrowed from {_show(before)} to {_show(after)}")

    def _values(self, old: dict[str, Any], new: dict[str, Any], path: list[str | int]) -> None:
        if "enum" in new:
            if "enum" not in old:
                self._add(path, f"enum added: only {new['enum']!r} accepted now")
            else:
                gone = [v for v in old["enum"] if v not in new["enum"]]
                if gone:
                    self._add(path, f"enum value(s) removed: {gone!r}")
                added = [v for v in new["enum"] if v not in old["enum"]]
                if added:
                    self._add(path, f"enum value(s) added: {added!r}", breaking=False)
        if "const" in new and old.get("const", object()) != new["const"]:
            self._add(path, f"const {new['const']!r} added or changed")
        for keyword in ("pattern", "format"):
            if keyword in new and old.get(keyword) != new[keyword]:
                self._add(path, f"{keyword} added or changed to {new[keyword]!r}")

    def _bounds(self, old: dict[str, Any], new: dict[str, Any], path: list[str | int]) -> None:
        for keyword in _LOWER_BOUNDS:
            if keyword in new and (keyword not in old or new[keyword] > old[keyword]):
                self._add(path, f"{keyword} raised to {new[keyword]!r} ({_was(old, keyword)})")
        for keyword in _UPPER_BOUNDS:
            if keyword in new and (keyword not in old or new[keyword] < old[keyword]):
                self._add(path, f"{keyword} lowered to {new[keyword]!r} ({_was(old, keyword)})")
        if new.get("uniqueItems") and not old.get("uniqueItems"):
            self._add(path, "uniqueItems added")
        if "multipleOf" in new and old.get("multipleOf") != new["multipleOf"]:
            self._add(path, f"multipleOf added or changed to {new['multipleOf']!r}")

    def _objects(
        self,
        old: dict[str, Any],
        new: dict[str, Any],
        path: list[str | int],
        old_doc: str,
        new_doc: str,
        depth: int,
    ) -> None:
        made_required = sorted(set(new.get("required", [])) - set(old.get("required", [])))
        for name in made_required:
            self._add([*path, name], "made required")
        for name in sorted(set(old.get("required", [])) - set(new.get("required", []))):
            self._add([*path, name], "no longer required", breaking=False)
        old_props: dict[str, Any] = old.get("properties", {})
        new_props: dict[str, Any] = new.get("properties", {})
        added = sorted(new_props.keys() - old_props.keys())
        for name in sorted(old_props.keys() - new_props.keys()):
            hint = f" (renamed to {added[0]!r}?)" if len(added) == 1 else ""
            self._add([*path, name], f"property removed{hint}")
        for name in added:
            if name not in made_required:
                self._add([*path, name], "optional property added", breaking=False)
        for name in sorted(old_props.keys() & new_props.keys()):
            self.compare(
                old_props[name], new_props[name], [*path, name], old_doc, new_doc, depth + 1
            )
        for keyword in ("additionalProperties", "unevaluatedProperties"):
            before, after = old.get(keyword, True), new.get(keyword, True)
            if after is False and before is not False:
                self._add(path, f"{keyword} tightened to false")
            elif before != after and isinstance(after, dict):
                self.compare(before, after, [*path, "*"], old_doc, new_doc, depth + 1)


def _resolve(schema: Any, doc: str, named: dict[str, dict[str, Any] | bool]) -> tuple[Any, str]:
    """Follow `$ref`s (`money`, `money#/$defs/x`, `#/$defs/x`) to the schema they name."""
    for _ in range(_MAX_DEPTH):
        if not isinstance(schema, dict) or "$ref" not in schema:
            return schema, doc
        ref = str(schema["$ref"])
        name, _, fragment = ref.partition("#")
        name = name or doc
        target: Any = named.get(name)
        if target is None or (fragment and not fragment.startswith("/")):
            return None, doc
        for token in fragment.split("/")[1:]:
            key = token.replace("~1", "/").replace("~0", "~")
            if isinstance(target, dict) and key in target:
                target = target[key]
            elif isinstance(target, list) and key.isdigit() and int(key) < len(target):
                target = target[int(key)]
            else:
                return None, doc
        schema, doc = target, name
    return None, doc


def _type_set(schema: dict[str, Any]) -> set[str] | None:
    kind = schema.get("type")
    if kind is None:
        return None
    return {kind} if isinstance(kind, str) else set(kind)


def _show(kinds: set[str] | None) -> str:
    if kinds is None:
        return "any type"
    return "/".join(sorted(kinds))


def _was(schema: dict[str, Any], keyword: str) -> str:
    """The old bound as a reader of the diff wants it: `unset`, not Python's `None`."""
    return f"was {schema[keyword]!r}" if keyword in schema else "was unset"
