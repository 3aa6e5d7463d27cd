"""The Subscriber's `Position`: where each connect resumes from, event by event."""

from __future__ import annotations

from gateway.client.position import Position


def test_a_first_connect_starts_at_the_head_then_follows_notifications() -> None:
    position = Position(None, 16)
    position.connecting(None)
    position.welcome("5-0")
    assert position.cursor == "5-0"
    assert position.notification("6-0")
    assert position.cursor == "6-0"


def test_frames_ahead_of_resumed_do_not_move_the_cursor() -> None:
    """Issue 15, fault path 1: live frames sent before a replay that then failed."""
    position = Position("2-0", 16)
    position.connecting("2-0")
    position.welcome("9-0")
    assert position.notification("9-1")
    assert position.cursor == "2-0"
    position.dropped()  # the gateway closed with 1013
    position.connecting("2-0")
    position.welcome("9-1")
    assert position.cursor == "2-0"


def test_after_the_last_replayed_item_the_cursor_is_the_head() -> None:
    position = Position("2-0", 16)
    position.connecting("2-0")
    position.welcome("9-0")
    position.resumed(2)
    assert position.notification("3-0")
    assert position.cursor == "3-0"
    assert position.notification("4-0")
    assert position.cursor == "9-0"  # the entries up to the head were not ours
    assert position.notification("9-1")
    assert position.cursor == "9-1"


def test_an_empty_replay_resumes_from_the_head() -> None:
    position = Position("2-0", 16)
    position.connecting("2-0")
    position.welcome("9-0")
    position.resumed(0)
    assert position.cursor == "9-0"


def test_a_repeated_cursor_is_not_new_but_still_moves_the_position() -> None:
    position = Position(None, 16)
    position.connecting(None)
    position.welcome("1-0")
    assert position.notification("2-0")
    position.dropped()
    position.cursor = "1-0"  # e.g. restored from storage
    position.connecting("1-0")
    position.welcome("2-0")
    position.resumed(1)
    assert not position.notification("2-0")
    assert position.cursor == "2-0"
