"""Which JSON Schema implementation the type registry uses, by measurement.

Times one notification's `data` (12 fields, one nested array of 3 objects, four `format`
keywords) against its schema with each kept implementation, valid and invalid, median of
repeated runs, and prints a table. Run: `python -m scripts.benchkit.validators` (from the
repository root, with jsonschema-rs, fastjsonschema and jsonschema installed).
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["order_id", "carrier", "eta", "items"],
    "additionalProperties": False,
    "properties": {
        "order_id": {"type": "integer", "minimum": 1},
        "carrier": {"enum": ["ups", "dhl", "fedex", "post"]},
        "tracking": {"type": "string", "pattern": "^[A-Z0-9]{8,20}$"},
        "eta": {"type": "string", "format": "date-time"},
        "contact": {"type": "string", "format": "email"},
        "link": {"type": "string", "format": "uri"},
        "shipment": {"type": "string", "format": "uuid"},
        "express": {"type": "boolean"},
        "weight_kg": {"type": "number", "exclusiveMinimum": 0},
        "note": {"type": "string", "maxLength": 200},
        "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 5},
        "items": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["sku", "qty"],
                "additionalProperties": False,
                "properties": {
                    "sku": {"type": "string", "minLength": 3},
                    "qty": {"type": "integer", "minimum": 1},
                    "price": {"type": "number"},
                },
            },
        },
    },
}

VALID: dict[str, Any] = {
    "order_id": 42,
    "carrier": "dhl",
    "tracking": "JD014600003828",
    "eta": "2026-12-06T10:00:00Z",
    "contact": "ops@example.com",
    "link": "https://example.com/track/JD014600003828",
    "shipment": "0192f7a4-8a5b-7c3d-9e2f-1a2b3c4d5e6f",
    "express": True,
    "weight_kg": 1.25,
    "note": "leave at the door",
    "tags": ["gift"],
    "items": [
        {"sku": "ABC-1", "qty": 1, "price": 9.5},
        {"sku": "DEF-2", "qty": 2, "price": 3.0},
        {"sku": "GHI-3", "qty": 1},
    ],
}

INVALID: dict[str, Any] = {**VALID, "items": [*VALID["items"][:2], {"sku": "X", "qty": 1}]}


def _rs() -> tuple[Callable[[Any], bool], Callable[[Any], str]]:
    import jsonschema_rs

    validator = jsonschema_rs.Draft202012Validator(SCHEMA, validate_formats=True)

    def first_error(instance: Any) -> str:
        error = next(iter(validator.iter_errors(instance)))
        return f"{error.instance_path}: {error.message}"

    return validator.is_valid, first_error


def _fast() -> tuple[Callable[[Any], bool], Callable[[Any], str]]:
    import fastjsonschema

    # fastjsonschema knows drafts 4, 6 and 7 only: the same schema read as draft 7
    draft7 = {**SCHEMA, "$schema": "http://json-schema.org/draft-07/schema#"}
    validate = fastjsonschema.compile(draft7)

    def is_valid(instance: Any) -> bool:
        try:
            validate(instance)
        except fastjsonschema.JsonSchemaValueException:
            return False
        return True

    def first_error(instance: Any) -> str:
        try:
            validate(instance)
        except fastjsonschema.JsonSchemaValueException as exc:
            return f"{exc.path}: {exc.message}"
        return ""

    return is_valid, first_error


def _jsonschema() -> tuple[Callable[[Any], bool], Callable[[Any], str]]:
    import jsonschema  # type: ignore[import-untyped]

    validator = jsonschema.Draft202012Validator(
        SCHEMA, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )

    def first_error(instance: Any) -> str:
        error = next(iter(validator.iter_errors(instance)))
        return f"{list(error.absolute_path)}: {error.message}"

    return validator.is_valid, first_error


def _median_us(call: Callable[[], object], rounds: int = 7, number: int = 2000) -> float:
    samples = []
    for _ in range(rounds):
        started = time.perf_counter()
        for _ in range(number):
            call()
        samples.append((time.perf_counter() - started) / number * 1e6)
    return statistics.median(samples)


def main() -> None:
    print(f"{'implementation':<16} {'valid µs':>9} {'invalid µs':>11}  first error")
    for name, make in (
        ("jsonschema-rs", _rs),
        ("fastjsonschema", _fast),
        ("jsonschema", _jsonschema),
    ):
        try:
            is_valid, first_error = make()
        except ImportError as exc:
            print(f"{name:<16} not installed ({exc})", file=sys.stderr)
            continue
        assert is_valid(VALID), name
        assert not is_valid(INVALID), name
        number = 200 if name == "jsonschema" else 2000
        valid = _median_us(lambda: is_valid(VALID), number=number)  # noqa: B023
        invalid = _median_us(lambda: first_error(INVALID), number=number)  # noqa: B023
        print(f"{name:<16} {valid:>9.2f} {invalid:>11.2f}  {first_error(INVALID)}")


if __name__ == "__main__":
    main()
