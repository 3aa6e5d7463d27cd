"""The data every benchmark notification carries, and how big it is.

`{"ts":<time.time() at publish>,"lane":<publisher>,"seq":<n>,"pad":"xxx..."}`: the load
client (wsclient.py) finds `"ts":`, `"lane":` and `"seq":` in a frame to measure latency
and order without decoding the JSON.
"""

from __future__ import annotations


def pad(payload_bytes: int) -> str:
    """Padding that brings the data to about `payload_bytes` bytes."""
    # {"ts":1732612345.123456,"lane":0,"seq":12345,"pad":"..."} is ~55 bytes before padding
    return "x" * max(0, payload_bytes - 56)


def data_json(ts: float, lane: int, seq: int, padding: str) -> str:
    return f'{{"ts":{ts:.6f},"lane":{lane},"seq":{seq},"pad":"{padding}"}}'
