"""The machine-readable protocol (clients/protocol/notifications.v1.schema.json): the frame
check that tests.support.fixtures applies to every e2e frame can fail; client ops agree with
the gateway's parser; the TypeScript types name every event and op the schema defines."""

from __future__ import annotations

import json
import re

import jsonschema
import pytest

from gateway.connection.ops import parse_client_op
from gateway.models import Invalid
from tests.support.helpers import ROOT
from tests.support.schema import PROTOCOL_SCHEMA, check_server_frame

SCHEMA = json.loads(PROTOCOL_SCHEMA.read_text())
CLIENT_OP = jsonschema.Draft202012Validator({**SCHEMA, "oneOf": [{"$ref": "#/$defs/ClientOp"}]})
TYPES = (ROOT / "clients/js/src/protocol.ts").read_text()

NOTIFICATION = {
    "id": "n-1",
    "type": "order.shipped",
    "title": "",
    "body": "",
    "data": {"order": 42},
    "priority": "normal",
    "created_at": "2026-11-27T10:00:00.000Z",
}


@pytest.mark.parametrize(
    "frame",
    [
        {"event": "welcome", "user_id": "alice", "topics": ["news"], "cursor": "a-1"},
        {
            "event": "welcome",
            "user_id": "a",
            "topics": [],
            "cursor": "a-1",
            "heartbeat": 30,
            "x": 1,
        },
        {"event": "resumed", "since": "a-1", "complete": "yes", "replayed": 0},
        {"event": "notification", "cursor": "a-2", "notification": {**NOTIFICATION, "data": []}},
        {"event": "notification", "cursor": "a-2", "notification": {**NOTIFICATION, "type": "A"}},
        {"event": "error", "code": "bad_frame"},
        {"event": "hello"},
        ["not", "an", "object"],
    ],
)
def test_a_frame_off_the_schema_fails_the_test(frame: object) -> None:
    with pytest.raises(AssertionError, match="schema"):
        check_server_frame(json.dumps(frame))


def test_frames_the_gateway_sends_pass() -> None:
    for frame in [
        {"event": "welcome", "user_id": "alice", "topics": [], "cursor": "a-0", "heartbeat": 30.0},
        {"event": "resumed", "since": "a-0", "complete": False, "replayed": 3},
        {"event": "notification", "cursor": "a-1", "notification": NOTIFICATION},
        {"event": "error", "code": "bad_frame", "field": "op", "message": "unknown op"},
        {"event": "refreshed", "expires_at": 1795800000},
        {"event": "pong"},
    ]:
        check_server_frame(json.dumps(frame))


@pytest.mark.parametrize(
    "op",
    [{"op": "subscribe", "topic": "news"}, {"op": "unsubscribe", "topic": "n"}, {"op": "ping"}],
)
def test_ops_the_schema_allows_the_gateway_accepts(op: dict[str, str]) -> None:
    assert CLIENT_OP.is_valid(op)
    assert parse_client_op(json.dumps(op)).op == op["op"]


@pytest.mark.parametrize(
    "op",
    [
        {"op": "subscribe"},
        {"op": "subscribe", "topic": "a,b"},
        {"op": "subscribe", "topic": "x" * 129},
        {"op": "ping", "extra": 1},
        {"op": "dance"},
    ],
)
def test_ops_the_schema_refuses_the_gateway_refuses(op: dict[str, object]) -> None:
    assert not CLIENT_OP.is_valid(op)
    with pytest.raises(Invalid):
        parse_client_op(json.dumps(op))


def test_typescript_types_name_every_event_and_op_of_the_schema() -> None:
    defs = SCHEMA["$defs"]
    for union, key in (("ServerEvent", "event"), ("ClientOp", "op")):
        for ref in defs[union]["oneOf"]:
            member = defs[ref["$ref"].rsplit("/", 1)[1]]
            name = member["properties"][key]["const"]
            assert re.search(rf'\b{key}: "{re.escape(name)}";', TYPES), f"{key} {name}"
            for field in member["properties"]:
                assert re.search(rf"\b{field}\??:", TYPES), f"{name}.{field}"
