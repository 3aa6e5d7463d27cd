"""The protocol's JSON Schema (clients/protocol/notifications.v1.schema.json) as a check:
every JSON text frame a test's aiohttp WebSocket client receives goes through
`check_server_frame` (see the autouse fixture in tests.support.fixtures)."""

from __future__ import annotations

import json

import jsonschema

from tests.support.helpers import ROOT

PROTOCOL_SCHEMA = ROOT / "clients/protocol/notifications.v1.schema.json"


def _server_event_validator() -> jsonschema.Draft202012Validator:
    schema = json.loads(PROTOCOL_SCHEMA.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator({**schema, "oneOf": [{"$ref": "#/$defs/ServerEvent"}]})


SERVER_EVENT = _server_event_validator()


def check_server_frame(text: str) -> None:
    """Fails the test when a frame from the gateway does not match the protocol schema."""
    try:
        value = json.loads(text)
    except ValueError:
        raise AssertionError(f"the gateway sent a text frame that is not JSON: {text!r}") from None
    errors = sorted(SERVER_EVENT.iter_errors(value), key=lambda e: e.path)
    if errors:
        best = jsonschema.exceptions.best_match(errors)
        raise AssertionError(f"frame does not match the protocol schema: {best.message}: {text}")
