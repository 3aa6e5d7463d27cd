"""`types diff OLD NEW`: each breaking kind the issue lists is caught, safe additions pass,
and the command exits 1 only when something breaks."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from gateway.types import load_registry
from gateway.types.diff import diff
from tests.support.helpers import ROOT

_BASE: dict[str, Any] = {
    "type": "order.shipped",
    "targets": ["users", "topic"],
    "schema": {
        "type": "object",
        "required": ["order"],
        "properties": {
            "order": {"type": "integer"},
            "score": {"type": "number"},
            "note": {"type": ["string", "null"], "maxLength": 100},
            "carrier": {"enum": ["ups", "dhl"]},
            "items": {"type": "array", "items": {"type": "object", "properties": {"sku": {}}}},
            "total": {"$ref": "money"},
        },
    },
}
_MONEY = {"shared": "money", "schema": {"type": "object", "properties": {"amount": {}}}}


def _registry(directory: Path, entry: dict[str, Any], money: dict[str, Any] = _MONEY) -> Path:
    directory.mkdir()
    (directory / "t.json").write_text(json.dumps([entry, money]))
    return directory


def _changed(tmp_path: Path, edit: Any, money: dict[str, Any] = _MONEY) -> list[str]:
    entry = copy.deepcopy(_BASE)
    edit(entry, entry["schema"]["properties"])
    old = load_registry(_registry(tmp_path / "old", _BASE))
    new = load_registry(_registry(tmp_path / "new", entry, money))
    return [str(change) for change in diff(old, new)]


_BREAKING = {
    "property removed": (
        lambda e, p: p.pop("note"),
        "BREAKING order.shipped: notification.data.note: property removed",
    ),
    "property renamed": (
        lambda e, p: p.update(remark=p.pop("note")),
        "BREAKING order.shipped: notification.data.note: property removed (renamed to 'remark'?)",
    ),
    "type narrowed": (
        lambda e, p: p["note"].update(type="string"),
        "BREAKING order.shipped: notification.data.note: type narrowed from null/string to string",
    ),
    "type changed": (
        lambda e, p: p.update(order={"type": "string"}),
        "BREAKING order.shipped: notification.data.order: type narrowed from integer to string",
    ),
    "number to integer": (
        lambda e, p: p.update(score={"type": "integer"}),
        "BREAKING order.shipped: notification.data.score: type narrowed from number to integer",
    ),
    "made required": (
        lambda e, p: e["schema"]["required"].append("carrier"),
        "BREAKING order.shipped: notification.data.carrier: made required",
    ),
    "enum value removed": (
        lambda e, p: p["carrier"].update(enum=["ups"]),
        "BREAKING order.shipped: notification.data.carrier: enum value(s) removed: ['dhl']",
    ),
    "additionalProperties tightened": (
        lambda e, p: e["schema"].update(additionalProperties=False),
        "BREAKING order.shipped: notification.data: additionalProperties tightened to false",
    ),
    "nested in an array": (
        lambda e, p: p["items"]["items"]["properties"].pop("sku"),
        "BREAKING order.shipped: notification.data.items[].sku: property removed",
    ),
    "bound narrowed": (
        lambda e, p: p["note"].update(maxLength=10),
        "BREAKING order.shipped: notification.data.note: maxLength lowered to 10 (was 100)",
    ),
    "bound added": (
        lambda e, p: p["score"].update(minimum=0),
        "BREAKING order.shipped: notification.data.score: minimum raised to 0 (was unset)",
    ),
    "targets narrowed": (
        lambda e, p: e.update(targets=["users"]),
        "BREAKING order.shipped: target: targets narrowed: no longer topic",
    ),
    "type removed": (
        lambda e, p: e.update(type="order.dispatched"),
        "BREAKING order.shipped: type removed",
    ),
}


@pytest.mark.parametrize(("edit", "line"), _BREAKING.values(), ids=list(_BREAKING))
def test_each_breaking_kind_is_reported(tmp_path: Path, edit: Any, line: str) -> None:
    assert line in _changed(tmp_path, edit)


def test_a_change_behind_a_ref_is_followed(tmp_path: Path) -> None:
    money = {"shared": "money", "schema": {"type": "object", "properties": {}}}
    changes = _changed(tmp_path, lambda e, p: None, money)
    assert changes == ["BREAKING order.shipped: notification.data.total.amount: property removed"]


def test_safe_additions_pass(tmp_path: Path) -> None:
    def add(entry: dict[str, Any], props: dict[str, Any]) -> None:
        props["gift"] = {"type": "boolean"}
        props["carrier"]["enum"].append("fedex")
        props["note"]["maxLength"] = 200
        entry["schema"]["required"] = []
        entry["description"] = "now described"
        entry["targets"] = ["users", "topic", "everyone"]

    changes = _changed(tmp_path, add)
    assert changes and not [c for c in changes if c.startswith("BREAKING")], changes


def test_the_command_exits_1_on_breaking_changes_only(tmp_path: Path) -> None:
    old = _registry(tmp_path / "old", _BASE)
    widened = copy.deepcopy(_BASE)
    widened["schema"]["properties"]["gift"] = {"type": "boolean"}
    safe = _registry(tmp_path / "safe", widened)
    narrowed = copy.deepcopy(_BASE)
    narrowed["schema"]["properties"].pop("note")
    breaking = _registry(tmp_path / "breaking", narrowed)

    def run(*args: Path) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "gateway", "types", "diff", *map(str, args)]
        return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)

    assert run(old, safe).returncode == 0
    done = run(old, breaking)
    assert done.returncode == 1
    assert "BREAKING order.shipped: notification.data.note: property removed" in done.stdout
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "x.json").write_text("{")
    done = run(old, tmp_path / "bad")
    assert done.returncode == 2
    assert done.stderr.startswith("error: x.json#: not valid JSON")


def test_types_check_reports_the_registry_or_the_problem(tmp_path: Path) -> None:
    def check(directory: Path) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "gateway", "types", "check", str(directory)]
        return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)

    done = check(ROOT / "examples" / "types")
    assert done.returncode == 0 and done.stdout.startswith("ok: 5 types, 1 shared, ")
    (tmp_path / "t.yaml").write_text("type: a.b\nschema: {requried: [x]}\n")
    done = check(tmp_path)
    assert done.returncode == 2
    assert done.stderr == (
        "error: t.yaml#/schema/requried: 'requried' is not a JSON Schema 2020-12 keyword\n"
    )
