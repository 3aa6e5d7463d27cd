"""Types of the module built from gateway/csrc/receipts.c (see gateway/receipts/ackread.py)."""

def read_ack(
    text: str, after: tuple[str, int, int] | None, sent: bytes | tuple[str, int, int] | None, /
) -> tuple[tuple[str, int, int], bytes | tuple[str, int, int] | None, bool] | None: ...
