"""Notification gateway: typed notifications in over gRPC, out to browsers over WebSocket."""

from __future__ import annotations

__all__ = ["__version__"]
__version__ = "0.1.0"
