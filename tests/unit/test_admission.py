"""The connect path's pure half: a request read once, then admitted or refused."""

from __future__ import annotations

import time

import jwt
import pytest

from gateway.auth import TokenVerifier
from gateway.connection.admission import (
    AdmissionPolicy,
    Admitted,
    Handshake,
    Refusal,
    admit,
    read_handshake,
)
from gateway.service import Refused

SECRET = "s" * 32


def _policy(auth: bool = False, full: bool = False) -> AdmissionPolicy:
    return AdmissionPolicy(
        verifier=TokenVerifier.from_secret(SECRET) if auth else None,
        allowed_origins=frozenset({"https://app.example"}),
        max_topics=3,
        topics_required=False,
        capacity=lambda user: Refused(429, "too many") if full else None,
    )


def _shake(query: str, **headers: str) -> Handshake:
    handshake = read_handshake("/sse", query, {k.replace("_", "-"): v for k, v in headers.items()})
    assert isinstance(handshake, Handshake)
    return handshake


def _token(sub: str, **claims: object) -> str:
    return jwt.encode({"sub": sub, "exp": int(time.time()) + 60, **claims}, SECRET, "HS256")


def test_a_plain_connect_is_admitted() -> None:
    admitted = admit(_shake("user_id=alice&topics=a,b"), _policy())
    assert isinstance(admitted, Admitted)
    assert admitted.params.user_id == "alice" and admitted.params.topics == ("a", "b")
    assert admitted.since is None and admitted.subprotocol is None


@pytest.mark.parametrize(
    ("query", "headers", "status", "field"),
    [
        ("", {}, 400, "user_id"),
        ("user_id=a&topics=1,2,3,4", {}, 400, "topics"),
        ("user_id=a&since=nope", {}, 400, "since"),
        ("user_id=a", {"last_event_id": "nope"}, 400, "last-event-id"),
        ("user_id=a", {"last_event_id": "x" * 65}, 400, "last-event-id"),
        ("user_id=a", {"origin": "https://evil.example"}, 403, None),
        ("user_id=a", {"sec_websocket_protocol": "chat"}, 400, None),
    ],
)
def test_refusals_name_what_to_fix(
    query: str, headers: dict[str, str], status: int, field: str | None
) -> None:
    refusal = admit(_shake(query, **headers), _policy())
    assert isinstance(refusal, Refusal) and refusal.status == status and refusal.field == field


def test_a_query_that_is_not_utf8_is_refused_when_read() -> None:
    refusal = read_handshake("/ws", "user_id=%FF", {})
    assert isinstance(refusal, Refusal) and refusal.status == 400 and refusal.field == "user_id"


def test_since_wins_over_last_event_id() -> None:
    admitted = admit(_shake("user_id=a&since=0.1-5", last_event_id="0.1-9"), _policy())
    assert isinstance(admitted, Admitted) and str(admitted.since) == "0.1-5"
    admitted = admit(_shake("user_id=a", last_event_id="0.1-9"), _policy())
    assert isinstance(admitted, Admitted) and str(admitted.since) == "0.1-9"


@pytest.mark.parametrize("where", ["subprotocol", "authorization", "cookie", "query"])
def test_a_token_is_taken_from_each_place(where: str) -> None:
    token = _token("alice", topics=["a"])
    query, headers = "user_id=alice&topics=a", {}
    if where == "subprotocol":
        headers["sec_websocket_protocol"] = f"notifications.v1, bearer.{token}"
    elif where == "authorization":
        headers["authorization"] = f"Bearer {token}"
    elif where == "cookie":
        headers["cookie"] = f"theme=dark; gateway_token={token}"
    else:
        query += f"&token={token}"
    admitted = admit(_shake(query, **headers), _policy(auth=True))
    assert isinstance(admitted, Admitted) and admitted.expiry is not None
    assert admitted.grant is not None and admitted.grant.allows("a")


def test_token_refusals() -> None:
    missing = admit(_shake("user_id=alice"), _policy(auth=True))
    assert isinstance(missing, Refusal) and missing.status == 401
    cookie = f"gateway_token={_token('bob')}"
    other = admit(_shake("user_id=alice", cookie=cookie), _policy(auth=True))
    assert isinstance(other, Refusal) and other.status == 403
    topic = admit(
        _shake(f"user_id=alice&topics=b&token={_token('alice', topics=['a'])}"), _policy(auth=True)
    )
    assert isinstance(topic, Refusal) and topic.error == "forbidden_topic"
    assert topic.field == "topics"


def test_capacity_is_checked_last() -> None:
    refusal = admit(_shake("user_id=a"), _policy(full=True))
    assert refusal == Refusal(429, "too_many_connections", "too many")
    bad = admit(_shake("user_id=a&since=nope"), _policy(full=True))
    assert isinstance(bad, Refusal) and bad.status == 400
