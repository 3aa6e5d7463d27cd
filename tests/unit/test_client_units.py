"""The Python clients' pure parts: dedup window, backoff, close-code table, refresh timing."""

from __future__ import annotations

import ast
import random
import subprocess
import sys
import time

import jwt
import pytest

from gateway.client import AsyncPublisher, Publisher
from gateway.client.backoff import Backoff
from gateway.client.close_policy import CLOSE_POLICY, CloseAction, close_action
from gateway.client.items import CursorWindow
from gateway.client.tokens import refresh_due, token_expiry
from tests.support.tokens import SECRET, token


def test_cursor_window_drops_repeats_within_its_size() -> None:
    window = CursorWindow(3)
    assert [window.add(c) for c in ["a-1", "a-2", "a-1", "a-3", "a-4"]] == [
        True,
        True,
        False,
        True,
        True,
    ]
    assert window.add("a-1")  # forgotten: bounded memory
    assert not window.add("a-4")


def test_backoff_is_full_jitter_doubling_to_the_cap() -> None:
    backoff = Backoff(0.5, 20.0, random.Random(7))
    delays = [backoff.next_delay() for _ in range(12)]
    ceilings = [min(20.0, 0.5 * 2 ** (n + 1)) for n in range(12)]
    assert all(0.5 <= d <= c for d, c in zip(delays, ceilings, strict=True))
    late = []
    for _ in range(200):
        backoff.attempt = 10
        late.append(backoff.next_delay())
    assert min(late) < 3 and max(late) > 17  # spread over [0.5, 20], not pinned anywhere
    backoff.reset()
    assert backoff.next_delay() <= 1.0


def test_close_policy_table() -> None:
    assert {c for c, a in CLOSE_POLICY.items() if a is CloseAction.STOP} == {
        1000,
        1002,
        1003,
        1007,
        1008,
        1009,
        4009,
    }
    assert close_action(4001) is CloseAction.REFRESH_TOKEN
    for code in (None, 1001, 1006, 1011, 1012, 1013, 4008, 4010, 4321):
        assert close_action(code) is CloseAction.RECONNECT


def test_refresh_timing_reads_exp_without_a_key() -> None:
    assert token_expiry(token("alice", ttl=100)) == pytest.approx(time.time() + 100, abs=2)
    assert token_expiry(jwt.encode({"sub": "alice"}, SECRET, algorithm="HS256")) is None
    assert token_expiry("not.a.jwt") is None
    assert refresh_due(1000.0, 960.0) == 980.0  # half of what is left
    assert refresh_due(10_000.0, 0.0) == 9_970.0  # at most 30 s early
    assert refresh_due(1000.0, 1005.0) == 1000.0  # already expired: now


@pytest.mark.parametrize("make", [Publisher, AsyncPublisher])
def test_an_empty_publisher_address_is_a_value_error(make: type) -> None:
    """Before: gRPC printed plain-text lines from its C core, then failed with UNKNOWN."""
    with pytest.raises(ValueError, match="gRPC address is empty"):
        make(" ")


def test_the_client_package_loads_no_server_module() -> None:
    """gateway.client shares only gateway.contract and the generated code with the server
    (it imported gateway.models, and with it pydantic, for a constant and the id maker)."""
    code = (
        "import sys, gateway.client; "
        "print(sorted(m for m in sys.modules if m.startswith(('gateway.', 'pydantic'))))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    allowed = ("gateway.client", "gateway.api", "gateway.contract")
    assert [m for m in ast.literal_eval(loaded) if not m.startswith(allowed)] == []
