"""The WebSocket close handshake and ping/pong, sans-I/O: bytes in, what to do out."""

from __future__ import annotations

from gateway.closecodes import CloseCode
from gateway.websocket.frames import BINARY, TEXT, Message
from gateway.websocket.machine import CLOSED, CLOSING, OPEN, Closing, Send, ServerMachine
from gateway.wire import close_frame, pong_frame
from tests.support.wsraw import CLOSE, PING, PONG, close_payload, frame


def _machine() -> ServerMachine:
    return ServerMachine(1024)


def test_messages_come_out_in_order_and_a_ping_is_answered_in_place() -> None:
    machine = _machine()
    data = frame(TEXT, b"one") + frame(PING, b"hi") + frame(BINARY, b"\x00") + frame(PONG, b"")
    assert machine.receive(data) == [
        Message(TEXT, b"one", "one"),
        Send(pong_frame(b"hi")),
        Message(BINARY, b"\x00"),
    ]  # a pong only shows the client is alive
    assert machine.state == OPEN


def test_a_client_close_is_answered_with_its_code_and_ends_the_stream() -> None:
    machine = _machine()
    events = machine.receive(frame(TEXT, b"last") + frame(CLOSE, close_payload(4321, b"bye")))
    assert events == [Message(TEXT, b"last", "last"), Closing(close_frame(4321, ""))]
    assert machine.state == CLOSED
    assert machine.receive(frame(TEXT, b"after")) == []  # nothing once over


def test_an_empty_client_close_is_answered_1000() -> None:
    machine = _machine()
    assert machine.receive(frame(CLOSE)) == [Closing(close_frame(CloseCode.NORMAL, ""))]


def test_a_server_close_waits_for_the_answer_and_ignores_messages_meanwhile() -> None:
    machine = _machine()
    assert machine.close(4009, "bye") == close_frame(4009, "bye")
    assert machine.state == CLOSING
    assert machine.close(1001, "again") is None  # one close per connection
    assert machine.receive(frame(TEXT, b"late") + frame(PING, b"x")) == []
    assert machine.receive(frame(CLOSE, close_payload(4009))) == [Closing(None)]
    assert machine.state == CLOSED


def test_a_protocol_error_answers_the_messages_before_it_then_names_the_code() -> None:
    machine = _machine()
    unmasked = bytes((0x81, 1)) + b"x"
    events = machine.receive(frame(TEXT, b"ok") + unmasked)
    assert events[0] == Message(TEXT, b"ok", "ok")
    closing = events[1]
    assert isinstance(closing, Closing) and closing.frame is not None
    assert closing.frame[2:4] == CloseCode.PROTOCOL_ERROR.to_bytes(2, "big")
    assert machine.state == CLOSED


def test_a_message_over_the_limit_is_1009_and_bad_utf8_1007() -> None:
    big = _machine().receive(frame(TEXT, b"x" * 2000))
    assert isinstance(big[-1], Closing) and big[-1].frame is not None
    assert big[-1].frame[2:4] == CloseCode.MESSAGE_TOO_BIG.to_bytes(2, "big")
    bad = _machine().receive(frame(TEXT, b"\xff"))
    assert isinstance(bad[-1], Closing) and bad[-1].frame is not None
    assert bad[-1].frame[2:4] == CloseCode.INVALID_DATA.to_bytes(2, "big")


def test_a_protocol_error_while_closing_ends_without_another_close_frame() -> None:
    machine = _machine()
    machine.close(1001, "drain")
    assert machine.receive(bytes((0x81, 1)) + b"x") == [Closing(None)]


def test_a_frame_split_across_reads_waits() -> None:
    machine = _machine()
    data = frame(PING, b"abc")
    assert machine.receive(data[:3]) == []
    assert machine.receive(data[3:]) == [Send(pong_frame(b"abc"))]
