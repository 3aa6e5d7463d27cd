"""upb's own serialization of a PublishBatch response: the reference that the hand-encoded
response (Python in tests/unit/test_batch_response.py, C in tests/unit/test_speedups.py)
must equal byte for byte."""

from __future__ import annotations

from gateway.api.v1 import gateway_pb2 as pb
from gateway.log import AppendResult

__all__ = ["upb_batch_response"]


def upb_batch_response(ids: list[str], results: list[AppendResult]) -> bytes:
    response = pb.PublishBatchResponse()
    for i, r in zip(ids, results, strict=True):
        response.results.add(id=i, cursor=r.cursor, delivered=r.delivered)
    return response.SerializeToString()
