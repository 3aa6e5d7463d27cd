"""Frame encoding: headers for every length class, and the spliced notification event."""

from __future__ import annotations

import json
import struct

import pytest

from gateway.wire import encode_event, notification_frame, text_frame


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
