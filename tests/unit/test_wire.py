"""Frame encoding: headers for every length class, and the spliced notification event."""

from __future__ import annotations

import json
import struct

import pytest

from gateway.wire import close_frame, encode_event, notification_frame, text_frame


@pytest.mark.parametrize("size", [0, 125, 126, 65535, 65536])
def test_text_frame_headers(size: int) -> None:
    frame = text_frame(b"x" * size)
    assert frame[0] == 0x81  # FIN + text, never masked
    if size < 126:
        assert frame[1] == size and len(frame) == size + 2
    elif size < 65536:
        assert frame[1] == 126 and struct.unpack("!H", frame[2:4])[0] == size
    else:
        assert frame[1] == 127 and struct.unpack("!Q", frame[2:10])[0] == size


def test_notification_event_is_valid_json() -> None:
    frame = notification_frame('c-"1', b'{"id":"x"}')
    event = json.loads(frame[2:])
    assert event == {"event": "notification", "cursor": 'c-"1', "notification": {"id": "x"}}


def test_event() -> None:
    assert json.loads(encode_event("subscribed", topic="t")[2:]) == {
        "event": "subscribed",
        "topic": "t",
    }


@pytest.mark.parametrize("reason", ["", "bye", "x" * 200, "\u00e9" * 100])
def test_close_frame_fits_a_control_frame_and_stays_utf8(reason: str) -> None:
    frame = close_frame(4009, reason)
    assert frame[0] == 0x88 and frame[1] == len(frame) - 2 <= 125
    assert frame[2:4] == (4009).to_bytes(2, "big")
    assert reason.startswith(frame[4:].decode("utf-8"))
