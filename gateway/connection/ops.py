"""What clients send: the connect query string and the JSON ops on an open connection.

Both are parsed with pydantic here, once for every transport, so an edge only asks "valid,
or which rule broke?" and answers with an HTTP status (before the stream opens) or an
`error` event (after). Ops are applied by `ClientOps` (dispatch.py).
"""

from __future__ import annotations

from typing import Annotated, Literal, NamedTuple
from urllib.parse import unquote_to_bytes

import pydantic_core
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from gateway.connection.ackread import ACK_FRAME
from gateway.log.cursor import MAX_CURSOR_LENGTH
from gateway.models import IdempotencyKey, Identifier, Invalid, describe_errors, tuple_maker
from gateway.receipts.marks import Mark, mark_parts

__all__ = [
    "AckOp",
    "ClientOp",
    "ConnectParams",
    "MarkedAck",
    "PingOp",
    "ReadOp",
    "RefreshOp",
    "SubscribeOp",
    "UnsubscribeOp",
    "client_op",
    "parse_client_op",
    "parse_connect",
    "split_query",
]

_CURSOR_MAX = 64
_TOKEN_MAX = 8192


class ConnectParams(BaseModel):
    """`GET /ws?user_id=...&topics=a,b&since=...&token=...` (and the same on `/sse`)"""

    model_config = ConfigDict(frozen=True, extra="forbid")
    user_id: Identifier
    topics: tuple[Identifier, ...] = ()
    #: Printable ASCII only: a cursor is compared and parsed as ASCII (no '²' digits).
    since: (
        Annotated[str, Field(min_length=1, max_length=_CURSOR_MAX, pattern=r"^[\x21-\x7e]+$")]
        | None
    ) = None
    token: Annotated[str, Field(min_length=1, max_length=_TOKEN_MAX)] | None = None


def split_query(raw: str) -> dict[str, list[str]]:
    """Each key of a query string with all its values, percent-decoded ('+' is a space).

    The decoded bytes must be UTF-8: `%FF` is refused (naming its key), never turned into
    U+FFFD, where two different user IDs would become one.
    """
    if "&" not in raw and "%" not in raw and "+" not in raw:  # one parameter, nothing
        if not raw:  # to decode (`user_id=alice`, the connect of a client that follows
            return {}  # no topic): the loop's result without its ~4k instructions
        key, _, value = raw.partition("=")
        return {key: [value]}
    query: dict[str, list[str]] = {}
    for part in raw.split("&"):
        if not part:
            continue
        key, _, value = part.partition("=")
        name = _decode(key, "query")
        query.setdefault(name, []).append(_decode(value, name))
    return query


def _decode(text: str, field: str) -> str:
    if "%" not in text and "+" not in text:  # nothing to decode (most values)
        return text
    try:
        return unquote_to_bytes(text.replace("+", " ")).decode("utf-8")
    except UnicodeDecodeError:
        raise Invalid(field, "not UTF-8 once percent-decoded") from None


#: The query keys `ConnectParams` reads (read once: pydantic's `model_fields` is a property).
_CONNECT_KEYS = frozenset(ConnectParams.model_fields)
#: `ConnectParams.model_validate` without its Python frame: the same validator.
_validate_connect = ConnectParams.__pydantic_validator__.validate_python


def parse_connect(query: dict[str, list[str]], max_topics: int) -> ConnectParams:
    """The connect parameters from a query string (each key with all its values)."""
    raw: dict[str, object] = {}
    for key, values in query.items():
        if key not in _CONNECT_KEYS:
            continue  # cache-busters and the like are harmless
        if len(values) > 1:
            raise Invalid(key, "given more than once")
        raw[key] = values[0]
    topics = raw.pop("topics", None) if "topics" in raw else None
    if isinstance(topics, str):
        names = tuple(dict.fromkeys(t for t in topics.split(",") if t))
        if len(names) > max_topics:
            raise Invalid("topics", f"at most {max_topics} per connection (got {len(names)})")
        raw["topics"] = names
    try:
        params: ConnectParams = _validate_connect(raw)
    except ValidationError as exc:
        raise describe_errors(exc) from None
    return params


class SubscribeOp(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    op: Literal["subscribe"]
    topic: Identifier


class UnsubscribeOp(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    op: Literal["unsubscribe"]
    topic: Identifier


class PingOp(BaseModel):
    """Browsers cannot send WebSocket pings; this lets them check the line (answer: `pong`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    op: Literal["ping"]


class RefreshOp(BaseModel):
    """A fresh token for the open connection (answer: `refreshed`, or `error` `bad_token`).

    The token is any string here: the verifier judges it, and a validation message would
    quote it back.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")
    op: Literal["refresh"]
    token: str


class AckOp(BaseModel):
    """Receipts: every notification up to `cursor` reached this client (cumulative; not
    answered; one that covers nothing this connection was sent is ignored)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    op: Literal["ack"]
    cursor: Annotated[
        str, Field(min_length=1, max_length=MAX_CURSOR_LENGTH, pattern=r"^[0-9a-z.]+-[0-9]+$")
    ]


class ReadOp(BaseModel):
    """Receipts: the person saw the notification `id` (not answered)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    op: Literal["read"]
    id: IdempotencyKey


class MarkedAck(NamedTuple):
    """An `ack` frame read by the fast path: its cursor's place, parsed once (`AckOp`
    with `Cursor.parse(op.cursor)`, for the frame the SDKs send)."""

    at: Mark
    #: As the client wrote it (compared with the last cursor written to the connection).
    cursor: str


AnyOp = SubscribeOp | UnsubscribeOp | PingOp | RefreshOp | AckOp | ReadOp
ClientOp = Annotated[AnyOp, Field(discriminator="op")]
_client_op: TypeAdapter[AnyOp] = TypeAdapter(ClientOp)


_OPS = ("subscribe", "unsubscribe", "ping", "refresh", "ack", "read")
#: The ack as the SDKs write it: one regex (ackread.ACK_FRAME) instead of a JSON decode
#: and a model. Anything it matches the model accepts with the same cursor; anything else
#: (escapes, other key orders, other spacing) takes the model's path.
#: tests/unit/test_ack_rules.py holds it to that. (A WebSocket edge with receipts on
#: reads this frame before it gets here: ClientOps' `first`, ackread.read_ack.)
_ACK_START = ('{"op":"ack",', '{"op": "ack",')
_marked_ack = tuple_maker(MarkedAck)


def parse_client_op(text: str) -> AnyOp | MarkedAck:
    """One client frame as an op, or `Invalid` saying what is wrong with it. Receipts'
    acks (most frames a client sends) skip the models when the fast path reads them."""
    if text.startswith(_ACK_START):
        found = ACK_FRAME.fullmatch(text)
        if found is not None:
            cursor, store, n = found.groups()
            return _marked_ack((mark_parts(store, n), cursor))
    try:
        value = pydantic_core.from_json(text)
    except ValueError:
        raise Invalid("frame", 'not JSON; send an object like {"op": "subscribe", ...}') from None
    return client_op(value)


def client_op(value: object) -> AnyOp:
    """One decoded JSON value (a frame's, or an item of an SSE ops post) as an op."""
    if not isinstance(value, dict):
        raise Invalid("frame", 'must be a JSON object with an "op"')
    op = value.get("op")
    if op not in _OPS:
        shown = "missing" if op is None else f"unknown op {str(op)[:40]!r}"
        raise Invalid("op", f"{shown}: expected one of {', '.join(_OPS)}")
    try:
        return _client_op.validate_python(value)
    except ValidationError as exc:
        error = describe_errors(exc)  # its location starts with the op tag: drop it
        raise Invalid(error.field.removeprefix(f"{op}."), error.rule) from None
