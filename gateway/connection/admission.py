"""The connect path's two steps before a response: read the head once, then admit.

`/ws` and `/sse` share it. `read_handshake` turns a request's path, query and headers into
a typed `Handshake` (or a `Refusal`), once; `admit(handshake, policy)` decides, without
side effects, whether the client gets in: connect params, subprotocol, origin, token,
topic grant, resume cursor and limits, in that order, answering `Admitted` or the
`Refusal` (HTTP status, error code, message, field) the edge sends before any upgrade.

Tokens, in order of precedence: a `bearer.<jwt>` subprotocol (browsers' WebSocket cannot
set headers, and a URL lands in proxy logs), `Authorization: Bearer`, the `gateway_token`
cookie (an `EventSource` sends cookies, nothing else), then `?token=`. No token is ever
logged or quoted back.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import NamedTuple

from gateway.auth import Denied, TokenVerifier, bearer_token, check_origin
from gateway.connection.dispatch import verify
from gateway.connection.grants import TopicGrant
from gateway.connection.ops import ConnectParams, parse_connect, split_query
from gateway.log.cursor import MAX_CURSOR_LENGTH, Cursor
from gateway.models import Invalid, tuple_maker
from gateway.service import Refused

__all__ = [
    "SUBPROTOCOL",
    "TOKEN_COOKIE",
    "AdmissionPolicy",
    "Admitted",
    "Capacity",
    "Handshake",
    "Refusal",
    "admit",
    "read_handshake",
]

#: The one WebSocket subprotocol spoken here. Browsers may offer `bearer.<jwt>` beside it.
SUBPROTOCOL = "notifications.v1"
#: The cookie a token may come in (for `EventSource`, which sends cookies but no headers).
TOKEN_COOKIE = "gateway_token"
_BEARER = "bearer."
#: One RFC 9110 token (a subprotocol name), as a regex: 4x faster than a set of characters
#: for a 190-character `bearer.<jwt>`.
_TOKEN_RE = re.compile(r"[!#$%&'*+\-.^_`|~0-9a-zA-Z]+")
_DENIED_ERRORS = {
    401: "unauthorized",
    403: "forbidden",
    429: "too_many_connections",
    503: "unavailable",
}


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a client is not let in: the HTTP status and the JSON body to answer with."""

    status: int
    error: str
    message: str
    field: str | None = None

    def body(self) -> dict[str, str]:
        body = {"error": self.error, "message": self.message}
        if self.field is not None:
            body["field"] = self.field
        return body


class Handshake(NamedTuple):
    """A connect request, read once: what admission and the response need of it.

    A tuple, made once per connect: a frozen dataclass of eight fields cost ~1 µs more.
    """

    path: str
    #: Each query key with all its values, percent-decoded.
    query: dict[str, list[str]]
    #: Every header, names lower-cased (the WebSocket upgrade check reads its own).
    headers: Mapping[str, str]
    #: The subprotocols offered (`Sec-WebSocket-Protocol`), in the client's order.
    subprotocols: tuple[str, ...]
    origin: str | None
    #: The token of `Authorization: Bearer <token>`, if that is what was sent.
    authorization: str | None
    #: The `gateway_token` cookie's value, if sent.
    cookie_token: str | None
    #: SSE's resume header (an `EventSource` reconnecting sends its last event's `id:`).
    last_event_id: str | None


#: Made in C (`tuple_maker`): the tuples' own constructors are Python functions.
_make_handshake = tuple_maker(Handshake)


def read_handshake(path: str, query: str, headers: Mapping[str, str]) -> Handshake | Refusal:
    """The typed handshake of a request, or a 400 for a query or header that cannot be read."""
    try:
        params = split_query(query)
    except Invalid as exc:
        return Refusal(400, "invalid_request", str(exc), exc.field)
    # the checks below skip a call for each header absent (most are): this runs per connect
    offered: tuple[str, ...] = ()
    protocols = headers.get("sec-websocket-protocol")
    if protocols is not None:
        read = _offered_subprotocols(protocols)
        if isinstance(read, Refusal):
            return read
        offered = read
    authorization = headers.get("authorization")
    cookie = headers.get("cookie")
    return _make_handshake(
        (
            path,
            params,
            headers,
            offered,
            headers.get("origin"),
            None if authorization is None else bearer_token(authorization),
            None if cookie is None else _cookie(cookie, TOKEN_COOKIE),
            headers.get("last-event-id"),
        )
    )


#: Whether one more connection for a user fits (the service's `admit`): None, or why not.
Capacity = Callable[[str], Refused | None]


@dataclass(frozen=True, slots=True)
class AdmissionPolicy:
    """The rules a connect is held to, and what admission asks of the rest of the gateway."""

    verifier: TokenVerifier | None
    allowed_origins: frozenset[str] | None
    max_topics: int
    #: With JWT on, whether a token without a `topics` claim is refused (else: any topic).
    topics_required: bool
    #: Whether one more connection for the user fits: None, or the status and reason.
    capacity: Capacity


class Admitted(NamedTuple):
    """What admission learned: the params, the subprotocol to select, the token's terms."""

    params: ConnectParams
    subprotocol: str | None
    expiry: float | None
    grant: TopicGrant | None
    #: Where to resume from: `since`, else SSE's Last-Event-ID; None for a fresh start.
    since: Cursor | None


_make_admitted = tuple_maker(Admitted)


def admit(handshake: Handshake, policy: AdmissionPolicy) -> Admitted | Refusal:
    """Whether the client gets in, checked in the order a client can fix things."""
    try:
        params = parse_connect(handshake.query, policy.max_topics)
    except Invalid as exc:
        return Refusal(400, "invalid_request", str(exc), exc.field)
    selected = bearer = None
    if handshake.subprotocols:
        subprotocol = _choose_subprotocol(handshake.subprotocols)
        if isinstance(subprotocol, Refusal):
            return subprotocol
        selected, bearer = subprotocol
    try:
        if policy.allowed_origins is not None:
            check_origin(handshake.origin, policy.allowed_origins)
        expiry = grant = None
        if policy.verifier is not None:
            token = bearer or handshake.authorization or handshake.cookie_token or params.token
            expiry, grant = verify(policy.verifier, token, params.user_id, policy.topics_required)
            forbidden = None if grant is None else grant.first_refused(params.topics)
            if forbidden is not None:
                message = f"topic {forbidden!r} is not in the token's topics claim"
                return Refusal(403, "forbidden_topic", message, "topics")
    except Denied as exc:
        return Refusal(exc.status, _DENIED_ERRORS.get(exc.status, "refused"), exc.reason)
    since = None
    if params.since is not None:
        since = Cursor.parse(params.since)
        if since is None:
            message = "since: not a cursor from this gateway"
            return Refusal(400, "invalid_request", message, "since")
    elif handshake.last_event_id is not None:
        event_id = handshake.last_event_id
        since = Cursor.parse(event_id) if len(event_id) <= MAX_CURSOR_LENGTH else None
        if since is None:
            # never quoted back: it is whatever the client (or a proxy) put there
            message = "Last-Event-ID: not a cursor from this gateway"
            return Refusal(400, "invalid_request", message, "last-event-id")
    refused = policy.capacity(params.user_id)
    if refused is not None:
        status = refused.status
        return Refusal(status, _DENIED_ERRORS.get(status, "refused"), refused.reason)
    return _make_admitted((params, selected, expiry, grant, since))


def _offered_subprotocols(value: str) -> tuple[str, ...] | Refusal:
    """The subprotocols a client offers in `Sec-WebSocket-Protocol`, in its order.

    The value is a comma-separated list of RFC 9110 tokens (RFC 6455 §4.1); empty list
    elements are skipped (RFC 9110 §5.6.1). Anything else is a 400 whose message names the
    element's position only: an element may carry a bearer token.
    """
    offered = []
    for position, part in enumerate(value.split(","), 1):
        name = part.strip(" \t")
        if not name:
            continue
        if _TOKEN_RE.fullmatch(name) is None:
            message = f"Sec-WebSocket-Protocol: element {position} is not a token"
            return Refusal(400, "bad_handshake", message)
        offered.append(name)
    return tuple(offered)


def _choose_subprotocol(offered: tuple[str, ...]) -> tuple[str | None, str | None] | Refusal:
    """The subprotocol to select for a client's offer, and the bearer token it carries.

    Offering nothing is fine (no subprotocol); offering any, `notifications.v1` among them.
    """
    if not offered:
        return None, None
    if SUBPROTOCOL not in offered:
        message = f"the supported subprotocol is {SUBPROTOCOL}: offer it (with bearer.<jwt>)"
        return Refusal(400, "unsupported_subprotocol", message)
    tokens = [name[len(_BEARER) :] for name in offered if name.startswith(_BEARER)]
    if len(tokens) > 1:
        return Refusal(400, "bad_handshake", "offer at most one bearer.<jwt> subprotocol")
    return SUBPROTOCOL, tokens[0] if tokens else None


def _cookie(header: str, name: str) -> str | None:
    """One cookie's value from a `Cookie` header (RFC 6265 §5.4: `a=b; c=d`)."""
    if name not in header:
        return None
    for pair in header.split(";"):
        key, sep, value = pair.strip().partition("=")
        if sep and key == name:
            return value.strip('"') or None
    return None
