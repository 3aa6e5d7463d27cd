"""Frame encoding: headers for every length class; `Outgoing`'s WebSocket and SSE forms."""

from __future__ import annotations

import json
import struct

import pytest

from gateway.connection.outgoing import PING, Outgoing
from gateway.wire import PING_FRAME, close_frame, text_frame


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


@pytest.mark.parametrize("payload", [125, 126, 65535, 65536])
def test_a_notification_frame_is_a_text_frame_at_every_header_size(payload: int) -> None:
    fixed = len(b'{"event":"notification","cursor":"c-1","notification":') + len(b"}")
    body = b'"' + b"b" * (payload - fixed - 2) + b'"'
    frame = Outgoing.notification("c-1", body).ws
    assert frame == text_frame(b'{"event":"notification","cursor":"c-1","notification":%s}' % body)
    assert len(frame) - payload in (2, 4, 10)


def test_notification_event_is_valid_json() -> None:
    frame = Outgoing.notification('c-"1', b'{"id":"x"}').ws
    event = json.loads(frame[2:])
    assert event == {"event": "notification", "cursor": 'c-"1', "notification": {"id": "x"}}


@pytest.mark.parametrize("size", [10, 200, 70_000])
def test_a_notification_is_the_same_json_on_both_transports(size: int) -> None:
    body = b'{"id":"x","data":"' + b"d" * size + b'"}'
    item = Outgoing.notification("0.1-5", body)
    sse = item.sse()
    assert item.sse() is sse  # framed once, then shared
    head, data = sse.split(b"\ndata: ")
    assert head == b"id: 0.1-5\nevent: notification" and data.endswith(b"\n\n")
    assert b"\n" not in data[:-2]
    header = {10: 2, 200: 4, 70_000: 10}[size]
    assert data[:-2] == item.ws[header:]
    assert json.loads(data)["notification"]["data"] == "d" * size


def test_event() -> None:
    item = Outgoing.of("subscribed", topic="t")
    assert json.loads(item.ws[2:]) == {"event": "subscribed", "topic": "t"}
    assert item.sse() == b'event: subscribed\ndata: {"event":"subscribed","topic":"t"}\n\n'


def test_frames_only_websocket_has() -> None:
    assert PING.ws == PING_FRAME and PING.sse() == b": keep-alive\n\n"
    pong = Outgoing.control(b"\x8a\x00")
    assert pong.ws == b"\x8a\x00" and pong.sse() == b""


@pytest.mark.parametrize("reason", ["", "bye", "x" * 200, "\u00e9" * 100])
def test_close_frame_fits_a_control_frame_and_stays_utf8(reason: str) -> None:
    frame = close_frame(4009, reason)
    assert frame[0] == 0x88 and frame[1] == len(frame) - 2 <= 125
    assert frame[2:4] == (4009).to_bytes(2, "big")
    assert reason.startswith(frame[4:].decode("utf-8"))
