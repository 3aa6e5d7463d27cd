"""Load a registry directory (`GATEWAY_TYPES`) into a `Snapshot`, checking everything first.

A directory holds `*.json`, `*.yaml` and `*.yml` files (names starting with `.` are skipped:
a Kubernetes ConfigMap mount keeps its real files under `..data/`, behind symlinks). A file
holds one entry or a list of them:

    {"type": "order.shipped", "schema": {...}, "description": "...", "example": {...},
     "deprecated": false, "targets": ["users"], "priority": "high", "ttl_seconds": 3600}
    {"shared": "money", "schema": {...}}          # a schema types refer to: {"$ref": "money"}

Every problem is a `RegistryError` naming the file and the JSON pointer inside it: a file
that does not parse, an entry field that breaks its rule, a name that breaks the type-name
rule or is declared twice, a schema that is not valid JSON Schema 2020-12, a keyword
2020-12 does not have (`x-` extensions aside), a `$ref` that resolves to nothing, an example
its own schema refuses. Nothing is fetched from the network.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urljoin

import jsonschema_rs
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from gateway.models import NotificationType, Priority
from gateway.types.entry import BASE_URI, SharedSchema, Snapshot, TargetKind, TypeEntry
from gateway.types.keywords import KNOWN, REFUSED, unknown_keyword_rule, walk
from gateway.types.paths import json_pointer

__all__ = ["RegistryError", "load_registry", "registry_files"]

_SUFFIXES = (".json", ".yaml", ".yml")
_DRAFT_2020_12 = "https://json-schema.org/draft/2020-12/schema"


class RegistryError(Exception):
    """A registry that cannot be used: which file, where in it (a JSON pointer), and why."""

    def __init__(self, file: str, pointer: str, rule: str) -> None:
        super().__init__(f"{file}#{pointer}: {rule}" if file else rule)
        self.file = file
        self.pointer = pointer
        self.rule = rule


class _Entry(BaseModel):
    """One entry of a registry file, as written."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: NotificationType | None = None
    shared: NotificationType | None = None
    schema_: Annotated[dict[str, Any] | bool, Field(alias="schema")]
    description: str = ""
    example: dict[str, Any] | None = None
    deprecated: bool | Annotated[str, Field(min_length=1)] = False
    targets: Annotated[list[TargetKind], Field(min_length=1)] | None = None
    priority: Priority | None = None
    ttl_seconds: Annotated[float, Field(ge=0, le=315_576_000_000)] | None = None

    @model_validator(mode="after")
    def _one_name(self) -> _Entry:
        if (self.type is None) == (self.shared is None):
            raise ValueError("set exactly one of 'type' (a notification type) or 'shared'")
        if self.shared is not None and (
            self.example is not None
            or self.deprecated is not False
            or self.targets is not None
            or self.priority is not None
            or self.ttl_seconds is not None
        ):
            raise ValueError("a shared schema takes only 'schema' and 'description'")
        return self


@dataclass(frozen=True, slots=True)
class _Declared:
    entry: _Entry
    file: str
    pointer: str

    @property
    def name(self) -> str:
        return self.entry.type or self.entry.shared or ""


class _JsonYamlLoader(yaml.SafeLoader):
    """YAML read as JSON would be: an unquoted `2026-12-06T10:00:00Z` stays a string (a
    `format: date-time` value), not a datetime no JSON Schema validator knows."""


_JsonYamlLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def registry_files(directory: Path) -> list[Path]:
    """The registry's files in name order (symlinks followed, hidden names skipped)."""
    try:
        names = sorted(directory.iterdir())
    except OSError as exc:
        raise RegistryError(str(directory), "", f"cannot read the directory: {exc}") from None
    return [p for p in names if p.suffix in _SUFFIXES and not p.name.startswith(".")]


def load_registry(directory: Path) -> Snapshot:
    """The registry in `directory`, every schema checked and compiled; `RegistryError` if not."""
    declared = list(_declarations(directory))
    by_name: dict[str, _Declared] = {}
    for item in declared:
        first = by_name.get(item.name)
        if first is not None:
            raise RegistryError(
                item.file,
                item.pointer,
                f"{item.name!r} is declared twice (first in {first.file}#{first.pointer})",
            )
        by_name[item.name] = item
    for item in declared:
        _check_schema(item)
    for item in declared:
        _check_ref_targets(item, by_name)
    try:
        registry = jsonschema_rs.Registry(
            [(BASE_URI + item.name, item.entry.schema_) for item in declared],
            retriever=_nothing_outside,
        )
    except (jsonschema_rs.ReferencingError, ValueError) as exc:  # what the checks above missed
        raise RegistryError(str(directory), "", _one_line(str(exc))) from None
    for item in declared:
        _check_refs(item, registry)
    types: dict[str, TypeEntry] = {}
    shared: dict[str, SharedSchema] = {}
    for item in declared:
        entry = item.entry
        source = f"{item.file}#{item.pointer}"
        if entry.shared is not None:
            schema, about = entry.schema_, entry.description
            shared[entry.shared] = SharedSchema(entry.shared, schema, source, about)
            continue
        validator = _compile(item, registry)
        if entry.example is not None:
            _check_example(item, validator, entry.example)
        types[item.name] = TypeEntry(
            name=item.name,
            schema=entry.schema_,
            validator=validator,
            source=source,
            description=entry.description,
            example=entry.example,
            deprecated=entry.deprecated,
            targets=frozenset(entry.targets) if entry.targets is not None else None,
            priority=entry.priority,
            ttl=timedelta(seconds=entry.ttl_seconds) if entry.ttl_seconds is not None else None,
        )
    return Snapshot(types, shared, str(directory))


def _declarations(directory: Path) -> Iterator[_Declared]:
    for path in registry_files(directory):
        name = path.name
        document = _parse(path)
        if isinstance(document, list):
            entries = [(f"/{i}", item) for i, item in enumerate(document)]
        else:
            entries = [("", document)]
        for pointer, raw in entries:
            _check_json(raw, name, pointer)
            try:
                entry = _Entry.model_validate(raw)
            except ValidationError as exc:
                error = exc.errors(include_url=False)[0]
                where = pointer + json_pointer(error["loc"])
                raise RegistryError(name, where, _rule(error)) from None
            yield _Declared(entry, name, pointer)


def _parse(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RegistryError(path.name, "", f"cannot read: {exc}") from None
    try:
        if path.suffix == ".json":
            return json.loads(text)
        return yaml.load(text, Loader=_JsonYamlLoader)  # a SafeLoader subclass
    except json.JSONDecodeError as exc:
        raise RegistryError(path.name, "", f"not valid JSON: {exc}") from None
    except yaml.YAMLError as exc:
        raise RegistryError(path.name, "", f"not valid YAML: {_one_line(str(exc))}") from None


def _check_json(value: Any, file: str, pointer: str) -> None:
    """YAML can say more than JSON (non-string keys, NaN): such a value has no schema."""
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise RegistryError(file, pointer, f"key {key!r} is not a string")
            _check_json(item, file, f"{pointer}/{key.replace('~', '~0').replace('/', '~1')}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _check_json(item, file, f"{pointer}/{i}")
    elif isinstance(value, float) and not math.isfinite(value):
        raise RegistryError(file, pointer, "NaN and Infinity are not JSON")
    elif value is not None and not isinstance(value, str | int | float | bool):
        raise RegistryError(file, pointer, f"a {type(value).__name__} is not a JSON value")


def _check_schema(item: _Declared) -> None:
    schema = item.entry.schema_
    at = f"{item.pointer}/schema"
    if isinstance(schema, dict) and schema.get("$schema", _DRAFT_2020_12) != _DRAFT_2020_12:
        raise RegistryError(item.file, f"{at}/$schema", f"must be {_DRAFT_2020_12!r} (or absent)")
    try:
        jsonschema_rs.meta.validate(schema)
    except jsonschema_rs.ValidationError as exc:
        where = at + json_pointer(exc.instance_path)
        rule = f"not valid JSON Schema 2020-12: {exc.message}"
        raise RegistryError(item.file, where, rule) from None
    for pointer, keyword, _ in walk(schema, at):
        if keyword not in KNOWN and not keyword.startswith("x-"):
            raise RegistryError(item.file, pointer, unknown_keyword_rule(keyword))
        if keyword in REFUSED:
            raise RegistryError(
                item.file, pointer, f"{keyword!r} is not allowed here: {REFUSED[keyword]}"
            )


def _check_ref_targets(item: _Declared, names: dict[str, _Declared]) -> None:
    """Each `$ref` names a schema of this registry (the fragment is checked later)."""
    base = BASE_URI + item.name
    for pointer, keyword, value in walk(item.entry.schema_, f"{item.pointer}/schema"):
        if keyword in ("$ref", "$dynamicRef") and isinstance(value, str):
            uri = urljoin(base, value).partition("#")[0]
            if not (uri.startswith(BASE_URI) and uri[len(BASE_URI) :] in names):
                rule = f"{value!r} resolves to nothing here: no type or shared schema is named so"
                raise RegistryError(item.file, pointer, rule)


def _check_refs(item: _Declared, registry: jsonschema_rs.Registry) -> None:
    resolver = registry.resolver(BASE_URI + item.name)
    for pointer, keyword, value in walk(item.entry.schema_, f"{item.pointer}/schema"):
        if keyword in ("$ref", "$dynamicRef") and isinstance(value, str):
            try:
                resolver.lookup(value)
            except (jsonschema_rs.ReferencingError, ValueError) as exc:
                rule = f"{value!r} resolves to nothing here: {_one_line(str(exc))}"
                raise RegistryError(item.file, pointer, rule) from None


def _compile(item: _Declared, registry: jsonschema_rs.Registry) -> jsonschema_rs.Validator:
    try:
        return jsonschema_rs.Draft202012Validator(
            item.entry.schema_,
            validate_formats=True,
            registry=registry,
            base_uri=BASE_URI + item.name,
            retriever=_nothing_outside,
        )
    except jsonschema_rs.ValidationError as exc:  # a `pattern` that is not a regex: where
        where = f"{item.pointer}/schema" + json_pointer(exc.instance_path)
        raise RegistryError(item.file, where, f"cannot be compiled: {exc.message}") from None
    except (jsonschema_rs.ReferencingError, ValueError) as exc:
        rule = f"cannot be compiled: {_one_line(str(exc))}"
        raise RegistryError(item.file, f"{item.pointer}/schema", rule) from None


def _check_example(item: _Declared, validator: jsonschema_rs.Validator, example: Any) -> None:
    for error in validator.iter_errors(example):
        where = f"{item.pointer}/example" + json_pointer(error.instance_path)
        raise RegistryError(item.file, where, f"the type's own schema refuses it: {error.message}")


def _nothing_outside(uri: str) -> Any:
    raise ValueError(f"{uri} is not in the registry (nothing is fetched from outside)")


def _rule(error: Any) -> str:
    if error["type"] == "missing":
        return "required"
    if error["type"] == "extra_forbidden":
        return "not a field of a registry entry"
    return str(error["msg"]).removeprefix("Value error, ")


def _one_line(text: str) -> str:
    return " ".join(text.split())[:300]
