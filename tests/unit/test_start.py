"""The welcome every connect gets (gateway/connection/start.py)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from gateway.connection.outgoing import Outgoing
from gateway.connection.start import _plain_welcome
from gateway.log.cursor import Cursor


@given(
    user_id=st.text(min_size=1, max_size=40),
    n=st.integers(min_value=0, max_value=10**12),
    heartbeat=st.sampled_from([30.0, 5.0, 0.5, 60.0]),
    resuming=st.booleans(),
)
def test_a_plain_welcome_is_the_welcome_encoded_whole(
    user_id: str, n: int, heartbeat: float, resuming: bool
) -> None:
    """The welcome of a client that follows no topic is spliced from a tail made once per
    head: byte for byte what encoding the whole object gives, whatever the user id."""
    cursor = Cursor("18c0ffee", None, n)
    for _ in range(2):  # the first makes the tail, the second reuses it
        item = _plain_welcome(user_id, cursor, heartbeat, resuming)
        fields = {
            "event": "welcome",
            "user_id": user_id,
            "topics": [],
            "cursor": str(cursor),
            "heartbeat": heartbeat,
        }
        whole = Outgoing.of_fields(fields, None if resuming else str(cursor))
        assert (item.event, item.json, item.ws, item.cursor) == (
            whole.event,
            whole.json,
            whole.ws,
            whole.cursor,
        )
