"""The Redis feed's interest bookkeeping: holds pair with releases, lingering is bounded."""

from __future__ import annotations

from gateway.log.redis_interest import Interest


def test_holds_and_releases_pair_up_and_only_new_channels_are_subscribed() -> None:
    interest = Interest(linger=10.0, max_lingering=100)
    assert interest.hold([b"a", b"b"]) == [b"a", b"b"]
    assert interest.hold([b"a"]) == []  # held twice, subscribed once
    interest.release([b"a"], now=0.0)
    assert interest.refs == {b"a": 1, b"b": 1}
    interest.release([b"a", b"b"], now=1.0)
    assert interest.refs == {}
    assert interest.expired(now=5.0) == []  # still lingering
    assert interest.hold([b"a"]) == []  # back within the linger: still subscribed
    assert interest.expired(now=20.0) == [b"b"]
    assert interest.subscribed == {b"a"}
    assert interest.hold([b"b"]) == [b"b"]  # gone: subscribed again


def test_lingering_is_bounded_oldest_first() -> None:
    interest = Interest(linger=60.0, max_lingering=2)
    channels = [bytes([c]) for c in b"abcde"]
    interest.hold(channels)
    for t, channel in enumerate(channels):
        interest.release([channel], now=float(t))
    assert interest.expired(now=10.0) == [b"a", b"b", b"c"]
    assert interest.subscribed == {b"d", b"e"}


def test_a_reconnection_subscribes_what_is_held_and_drops_the_lingering() -> None:
    interest = Interest(linger=60.0, max_lingering=10)
    interest.hold([b"a", b"b"])
    interest.release([b"b"], now=0.0)
    assert interest.reconnected() == [b"a"]
    assert interest.expired(now=100.0) == []
    interest.disconnected()
    assert interest.subscribed == set() and interest.hold([b"c"]) == [b"c"]
