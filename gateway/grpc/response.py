"""A `PublishBatchResponse` of accepted items, encoded by hand into the protobuf wire form.

Building the 500-result response through upb (an `add()` per result, then
`SerializeToString`) cost ~7.3k instructions per item of a `PublishBatch` (callgrind),
as much as the rest of the response path and the flush together. Every result of an
accepted batch is three fields, two of them short ASCII strings, so its bytes are one
f-string from a table of one-byte lengths, and the whole response one join and one
encode. `PublishBatch` is registered to return these bytes as they are
(`servicer.register`), so grpc serializes nothing.

Only the common form is encoded here: every id and cursor ASCII, each result under 128
bytes (one-byte lengths), `delivered` under 128. Anything else (a refusal's code and
message, a long cursor, a broadcast to 128 or more connections) returns None, and the
caller builds the message with upb as before. `tests/unit/test_batch_response.py` checks
that these bytes are upb's own for the same results, byte for byte.

With the compiled module (gateway/speedups.py) its twin in gateway/csrc/speedups.c
encodes any lengths and any UTF-8 text the same way, in a few hundred instructions per
result; the one here is the reference and the fallback.
"""

from __future__ import annotations

from collections.abc import Sequence

from gateway.log import AppendResult
from gateway.speedups import speedups

__all__ = ["encode_accepted", "encode_accepted_py"]

#: A length or value below 128 as the one character that encodes it (a one-byte varint).
_BYTE = tuple(chr(n) for n in range(128))
#: The same for a string's length, without 0: proto3 leaves an empty string out, so an
#: empty id or cursor is not the common form (a KeyError, like a length of 128 or more).
_LENGTH = {n: chr(n) for n in range(1, 128)}
#: Field 3 (`delivered`, varint) of a result; proto3 leaves a zero out.
_DELIVERED = ("", *(f"\x18{chr(n)}" for n in range(1, 128)))
#: The bytes `_DELIVERED` adds to a result's length.
_DELIVERED_SIZE = (0, *(2 for _ in range(1, 128)))


def encode_accepted_py(ids: Sequence[str], results: Sequence[AppendResult]) -> bytes | None:
    """The serialized `PublishBatchResponse` with result i = (ids[i], results[i]), or None
    when a value falls outside the common form (build the message with upb then)."""
    byte = _BYTE
    length = _LENGTH
    delivered = _DELIVERED
    size = _DELIVERED_SIZE
    try:
        text = "".join(
            [
                # results = 1 (a message), id = 1, cursor = 2, delivered = 3
                f"\n{byte[4 + len(i) + len(r.cursor) + size[r.delivered]]}"
                f"\n{length[len(i)]}{i}\x12{length[len(r.cursor)]}{r.cursor}{delivered[r.delivered]}"
                for i, r in zip(ids, results, strict=True)
            ]
        )
    except (IndexError, KeyError):  # 128 or more (a two-byte varint), or an empty string
        return None
    if not text.isascii():  # lengths above counted characters: right for ASCII only
        return None
    return text.encode("ascii")


encode_accepted = encode_accepted_py if speedups is None else speedups.encode_accepted
