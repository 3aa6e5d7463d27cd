"""What a hostile input may cost in logs."""

from __future__ import annotations

import logging

import pytest

__all__ = ["assert_quiet"]


def assert_quiet(caplog: pytest.LogCaptureFixture) -> None:
    """No traceback, and at most one line at warning level or above."""
    loud = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert not [r for r in caplog.records if r.exc_info], caplog.text
    assert len(loud) <= 1, caplog.text
