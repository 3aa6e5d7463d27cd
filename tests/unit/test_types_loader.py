"""Loading a registry directory: what loads, and every refusal naming the file and pointer."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from gateway.types import RegistryError, load_registry
from gateway.types.paths import data_path, json_pointer
from tests.support.helpers import ROOT

EXAMPLES = ROOT / "examples" / "types"


def _write(directory: Path, name: str, content: Any) -> Path:
    path = directory / name
    if name.endswith(".json"):
        path.write_text(content if isinstance(content, str) else json.dumps(content))
    else:
        path.write_text(content if isinstance(content, str) else yaml.safe_dump(content))
    return path


def _type(name: str = "order.shipped", **extra: Any) -> dict[str, Any]:
    schema = {"type": "object", "properties": {"order": {"type": "integer"}}}
    return {"type": name, "schema": schema, **extra}


def test_the_example_registry_loads() -> None:
    snapshot = load_registry(EXAMPLES)
    assert set(snapshot.types) >= {"order.shipped", "order.created", "account.password_changed"}
    assert "money" in snapshot.shared
    assert len(snapshot.hash) == 16
    shipped = snapshot.types["order.shipped"]
    assert shipped.priority == "high"
    assert shipped.targets == frozenset({"users"})
    # an unquoted YAML time stays a string (date-time format), not a datetime
    assert isinstance(shipped.example and shipped.example["eta"], str)


def test_one_type_a_list_and_hidden_files(tmp_path: Path) -> None:
    _write(tmp_path, "one.json", _type("a.one"))
    _write(tmp_path, "many.yaml", [_type("b.one"), _type("b.two")])
    _write(tmp_path, ".hidden.json", "not even json")
    _write(tmp_path, "notes.txt", "ignored")
    assert sorted(load_registry(tmp_path).types) == ["a.one", "b.one", "b.two"]


def test_the_hash_follows_the_content_not_the_file_layout(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    _write(tmp_path / "a", "x.json", [_type("a.one"), _type("b.one")])
    _write(tmp_path / "b", "y.yaml", _type("b.one"))
    _write(tmp_path / "b", "z.yaml", _type("a.one"))
    assert load_registry(tmp_path / "a").hash == load_registry(tmp_path / "b").hash
    _write(tmp_path / "b", "z.yaml", _type("a.one", description="changed"))
    assert load_registry(tmp_path / "a").hash != load_registry(tmp_path / "b").hash


_SCHEMA = {"type": "object"}

_BAD: dict[str, tuple[str, Any, str, str]] = {
    "not json": ("t.json", "{nope", "", "not valid JSON"),
    "not yaml": ("t.yaml", "a: [", "", "not valid YAML"),
    "missing schema": ("t.json", {"type": "a.b"}, "/schema", "required"),
    "unknown entry field": ("t.json", {**_type(), "descripton": "x"}, "/descripton", "not a field"),
    "bad type name": ("t.json", _type("Order.Shipped"), "/type", "String should match pattern"),
    "neither type nor shared": ("t.json", {"schema": _SCHEMA}, "", "set exactly one of"),
    "bad target kind": ("t.yaml", [_type(), _type("b.c", targets=["user"])], "/1/targets/0", ""),
    "bad priority": ("t.json", _type(priority="asap"), "/priority", ""),
    "negative ttl": ("t.json", _type(ttl_seconds=-1), "/ttl_seconds", "greater than or equal"),
    "not a 2020-12 schema": (
        "t.json",
        {"type": "a.b", "schema": {"type": "object", "properties": {"n": {"type": "strng"}}}},
        "/schema/properties/n/type",
        "not valid JSON Schema 2020-12",
    ),
    "unknown keyword": (
        "t.yaml",
        {"type": "a.b", "schema": {"properties": {"n": {"type": "string", "maxLenght": 3}}}},
        "/schema/properties/n/maxLenght",
        "'maxLenght' is not a JSON Schema 2020-12 keyword",
    ),
    "draft-7 keyword": (
        "t.json",
        {"type": "a.b", "schema": {"definitions": {"x": {}}}},
        "/schema/definitions",
        "use $defs",
    ),
    "other draft": (
        "t.json",
        {"type": "a.b", "schema": {"$schema": "http://json-schema.org/draft-07/schema#"}},
        "/schema/$schema",
        "must be",
    ),
    "an $id": (
        "t.json",
        {"type": "a.b", "schema": {"properties": {"x": {"$id": "https://example.com/x"}}}},
        "/schema/properties/x/$id",
        "refer to others by name",
    ),
    "ref to nothing": (
        "t.yaml",
        [_type(), {"type": "a.b", "schema": {"items": {"$ref": "money"}}}],
        "/1/schema/items/$ref",
        "'money' resolves to nothing",
    ),
    "local ref to nothing": (
        "t.json",
        {"type": "a.b", "schema": {"$ref": "#/$defs/missing"}},
        "/schema/$ref",
        "resolves to nothing",
    ),
    "example refused by its schema": (
        "t.json",
        _type(example={"order": "x"}),
        "/example/order",
        "the type's own schema refuses it",
    ),
    "a pattern that is not a regex": (
        "t.json",
        {"type": "a.b", "schema": {"properties": {"sku": {"type": "string", "pattern": "(["}}}},
        "/schema/properties/sku/pattern",
        'cannot be compiled: "([" is not a "regex"',
    ),
    "yaml non-string key": ("t.yaml", "type: a.b\nschema: {1: x}\n", "/schema", "not a string"),
}


@pytest.mark.parametrize(("name", "content", "pointer", "rule"), _BAD.values(), ids=list(_BAD))
def test_refusals_name_the_file_and_the_pointer(
    tmp_path: Path, name: str, content: Any, pointer: str, rule: str
) -> None:
    _write(tmp_path, name, content)
    with pytest.raises(RegistryError) as refused:
        load_registry(tmp_path)
    assert refused.value.file == name
    assert refused.value.pointer == pointer, refused.value
    assert rule in refused.value.rule, refused.value
    assert str(refused.value).startswith(f"{name}#{pointer}: ")


def test_a_name_declared_twice_names_both_places(tmp_path: Path) -> None:
    _write(tmp_path, "a.json", _type("a.b"))
    _write(tmp_path, "b.yaml", [_type("c.d"), _type("a.b")])
    with pytest.raises(RegistryError) as refused:
        load_registry(tmp_path)
    assert str(refused.value) == "b.yaml#/1: 'a.b' is declared twice (first in a.json#)"


def test_refs_between_files_and_into_parts(tmp_path: Path) -> None:
    _write(tmp_path, "shared.yaml", {"shared": "money", "schema": {"type": "integer"}})
    _write(
        tmp_path,
        "types.yaml",
        [
            {"type": "a.one", "schema": {"$defs": {"sku": {"minLength": 3}}, "type": "object"}},
            {
                "type": "a.two",
                "schema": {
                    "properties": {
                        "price": {"$ref": "money"},
                        "sku": {"$ref": "a.one#/$defs/sku"},
                    }
                },
            },
        ],
    )
    validator = load_registry(tmp_path).types["a.two"].validator
    assert validator.is_valid({"price": 3, "sku": "abc"})
    assert not validator.is_valid({"price": "3"})
    assert not validator.is_valid({"sku": "ab"})


def test_formats_are_checked(tmp_path: Path) -> None:
    props = {k: {"type": "string", "format": k} for k in ("date-time", "email", "uri", "uuid")}
    _write(tmp_path, "t.json", {"type": "a.b", "schema": {"properties": props}})
    validator = load_registry(tmp_path).types["a.b"].validator
    good = {
        "date-time": "2026-12-06T10:00:00Z",
        "email": "a@example.com",
        "uri": "https://example.com/x",
        "uuid": "0192f7a4-8a5b-7c3d-9e2f-1a2b3c4d5e6f",
    }
    assert validator.is_valid(good)
    for key, bad in {
        "date-time": "2026-13-01T00:00:00Z",
        "email": "nope",
        "uri": "not a uri",
        "uuid": "x",
    }.items():
        assert not validator.is_valid({**good, key: bad}), key


def test_an_unreadable_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(RegistryError, match="cannot read the directory"):
        load_registry(tmp_path / "missing")


def test_paths() -> None:
    assert data_path(["items", 2, "sku"]) == "notification.data.items[2].sku"
    assert data_path(["a.b", "ok"]) == 'notification.data["a.b"].ok'
    assert data_path([]) == "notification.data"
    assert json_pointer(["a/b", "c~d", 0]) == "/a~1b/c~0d/0"
