"""JSON log lines on stderr: one object per record, with any `extra=` fields merged in.

`setup_logging` makes everything the process writes to stderr one of these lines: the
gateway's records, the libraries' (aiohttp, grpc, asyncio propagate to the root handler),
Python `warnings`, and exceptions nobody caught (main thread, other threads, `__del__`).
"""

from __future__ import annotations

import json
import logging
import sys
import threading
from datetime import UTC, datetime
from types import TracebackType

__all__ = ["JsonFormatter", "setup_logging"]

_STANDARD = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}

#: Libraries whose records must reach the JSON handler, whatever they configured on import.
_LIBRARY_LOGGERS = ("aiohttp", "grpc", "asyncio", "py.warnings")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                line[key] = value
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


def setup_logging(level: str) -> None:
    """Route every record, warning and uncaught exception to JSON lines on stderr."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in _LIBRARY_LOGGERS:
        library = logging.getLogger(name)
        library.handlers.clear()
        library.propagate = True
    logging.captureWarnings(True)  # warnings.warn → the "py.warnings" logger
    sys.excepthook = _log_uncaught
    threading.excepthook = _log_thread_exception
    sys.unraisablehook = _log_unraisable


_log = logging.getLogger("gateway")


def _log_uncaught(
    kind: type[BaseException], value: BaseException, tb: TracebackType | None
) -> None:
    _log.critical("uncaught exception", exc_info=(kind, value, tb))


def _log_thread_exception(args: threading.ExceptHookArgs) -> None:
    if args.exc_type is SystemExit:
        return
    name = args.thread.name if args.thread is not None else None
    exc_info = (args.exc_type, args.exc_value or args.exc_type(), args.exc_traceback)
    _log.error("uncaught exception in a thread", extra={"thread_name": name}, exc_info=exc_info)


def _log_unraisable(args: sys.UnraisableHookArgs) -> None:
    exc_info = None
    if args.exc_value is not None:
        exc_info = (args.exc_type, args.exc_value, args.exc_traceback)
    _log.error(
        args.err_msg or "exception ignored",
        extra={"object": repr(args.object)},
        exc_info=exc_info,
    )
