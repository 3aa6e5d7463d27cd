"""Types of the compiled module built from gateway/csrc/speedups.c (see gateway/speedups.py)."""

from collections.abc import Sequence

from gateway.log import AppendResult

def encode_accepted(ids: Sequence[str], results: Sequence[AppendResult], /) -> bytes | None: ...
