"""The hand-encoded PublishBatch response is upb's own serialization, byte for byte."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.api.v1 import gateway_pb2 as pb
from gateway.grpc.response import encode_accepted, encode_accepted_py
from gateway.log import AppendResult
from tests.support.batch_response import upb_batch_response

_result = st.tuples(
    st.one_of(st.text(max_size=140), st.text("0123456789abcdef-", min_size=1, max_size=30)),
    st.text(max_size=140),
    st.integers(0, 300),
)


@settings(max_examples=400, deadline=None)
@given(st.lists(_result, min_size=1, max_size=20))
def test_whatever_it_encodes_is_what_upb_encodes(rows: list[tuple[str, str, int]]) -> None:
    ids = [row[1] for row in rows]
    results = [AppendResult(row[0], row[2]) for row in rows]
    encoded = encode_accepted(ids, results)
    if encoded is not None:
        assert encoded == upb_batch_response(ids, results)


def test_the_common_batch_is_encoded_and_reads_back() -> None:
    ids = [f"0193a1b2-c3d4-7e5f-8a6b-{n:012x}" for n in range(500)]
    results = [AppendResult(f"18c2f0a1b2c3-{n}", n % 2) for n in range(500)]
    encoded = encode_accepted(ids, results)
    assert encoded == upb_batch_response(ids, results)
    assert encoded is not None
    read = pb.PublishBatchResponse.FromString(encoded).results
    assert [(r.id, r.cursor, r.delivered) for r in read] == [
        (i, r.cursor, r.delivered) for i, r in zip(ids, results, strict=True)
    ]


def test_outside_the_common_form_the_python_twin_declines() -> None:
    # (the compiled twin encodes these too, as upb does: tests/unit/test_speedups.py)
    one = [AppendResult("c-1", 1)]
    assert encode_accepted_py(["é"], one) is None  # not ASCII
    assert encode_accepted_py([""], one) is None  # proto3 leaves an empty string out
    assert encode_accepted_py(["x" * 128], one) is None  # a two-byte length
    assert encode_accepted_py(["k"], [AppendResult("c-1", 128)]) is None  # a two-byte varint
    assert encode_accepted_py(["k"], [AppendResult("", 1)]) is None
