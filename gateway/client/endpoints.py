"""The subscriber's endpoint: the plain HTTP URL of a WebSocket URL (where a refusal's
reason can be read with a GET)."""

from __future__ import annotations

from urllib.parse import urlsplit

__all__ = ["plain_http_url", "sse_url"]

_PLAIN_SCHEMES = {"ws": "http", "wss": "https", "http": "http", "https": "https"}


def plain_http_url(url: str) -> str:
    """The HTTP URL of the same endpoint (where a refusal's reason can be read);
    `ValueError` when `url` is not a ws(s)/http(s) URL with a host."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 -- raises ValueError on a port that is not a number
    except ValueError:  # also a broken authority ("ws://[::1")
        parts = None
    scheme = _PLAIN_SCHEMES.get(parts.scheme.lower()) if parts is not None else None
    if parts is None or scheme is None or not parts.hostname:
        raise ValueError(f"url must be ws://, wss://, http:// or https:// with a host, not {url!r}")
    return parts._replace(scheme=scheme).geturl()


def sse_url(url: str) -> str:
    """The SSE stream of a client URL: `ws://h/ws` -> `http://h/sse` (a path ending in `/sse`
    stays; any other gets `/sse` in place of its last segment)."""
    parts = urlsplit(plain_http_url(url))
    path = parts.path
    if not path.endswith("/sse"):
        path = path[: -len("/ws")] + "/sse" if path.endswith("/ws") else path.rstrip("/") + "/sse"
    return parts._replace(path=path).geturl()
