"""Opening one connection to the gateway, on either transport, for the `Subscriber`.

A dial either connects or says why not, as a `Refused` value (an HTTP status, and the
gateway's JSON reason when it came with the answer) or a `Dropped` one (no answer: the
network, a timeout). Which of those retrying can fix, and whether a 401 is worth a fresh
token, is the subscriber's call (it owns the retry state), not the dial's.

`dial` picks the transport and says how the token goes with it: the subprotocol entry
`bearer.<jwt>` beside `notifications.v1` and `Authorization: Bearer` on a WebSocket,
`Authorization: Bearer` alone on SSE (never in the URL).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, TypeAlias

import aiohttp

from gateway.client.sse_link import SUBPROTOCOL, SseLink

__all__ = [
    "SUBPROTOCOL",
    "Dropped",
    "Link",
    "Refused",
    "dial",
    "dial_sse",
    "dial_ws",
    "refusal_body",
]

#: One open connection: a WebSocket, or an SSE stream shaped like one.
Link: TypeAlias = aiohttp.ClientWebSocketResponse | SseLink


@dataclass(frozen=True, slots=True)
class Refused:
    """The gateway answered the connect with `status`; `body` when it was read with it."""

    status: int
    body: str | None = None


@dataclass(frozen=True, slots=True)
class Dropped:
    """No answer to the connect: `reason` names the error."""

    reason: str


async def dial(
    http: aiohttp.ClientSession,
    transport: Literal["websocket", "sse"],
    ws_url: str,
    sse_url: str,
    params: dict[str, str],
    token: str | None,
    close_timeout: float,
) -> tuple[Link | Refused | Dropped, dict[str, str]]:
    """One connect on `transport`, and the headers it offered (to ask a refusal why)."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    if transport == "sse":
        response = await dial_sse(http, sse_url, params, headers)
        if isinstance(response, Refused | Dropped):
            return response, headers
        return SseLink(response, http, sse_url.split("?")[0] + "/ops"), headers
    protocols = [SUBPROTOCOL] + ([f"bearer.{token}"] if token else [])
    ws = await dial_ws(http, ws_url, params, protocols, headers, close_timeout)
    return ws, {**headers, "Sec-WebSocket-Protocol": ", ".join(protocols)}


async def dial_ws(
    http: aiohttp.ClientSession,
    url: str,
    params: dict[str, str],
    protocols: list[str],
    headers: dict[str, str],
    close_timeout: float,
) -> aiohttp.ClientWebSocketResponse | Refused | Dropped:
    """The WebSocket upgrade of `url`."""
    try:
        return await http.ws_connect(
            url,
            params=params,
            protocols=protocols,
            headers=headers,
            timeout=aiohttp.ClientWSTimeout(ws_close=close_timeout),
        )
    except aiohttp.WSServerHandshakeError as exc:
        return Refused(exc.status)
    except (aiohttp.ClientError, OSError, TimeoutError) as exc:
        return Dropped(str(exc) or type(exc).__name__)


async def dial_sse(
    http: aiohttp.ClientSession, url: str, params: dict[str, str], headers: dict[str, str]
) -> aiohttp.ClientResponse | Refused | Dropped:
    """`GET` of the SSE stream at `url`: its response once it answered 200 (a refusal's
    body is read, and its response closed, here)."""
    try:
        response = await http.get(
            url, params=params, headers={**headers, "Accept": "text/event-stream"}
        )
    except (aiohttp.ClientError, OSError, TimeoutError) as exc:
        return Dropped(str(exc) or type(exc).__name__)
    status = response.status
    if status != 200:
        body = await response.text()
        response.close()
        return Refused(status, body)
    return response


async def refusal_body(
    http: aiohttp.ClientSession, plain_url: str, params: dict[str, str], headers: dict[str, str]
) -> str:
    """The JSON reason of a refused upgrade (a plain GET is refused for the same reason)."""
    try:
        async with http.get(plain_url, params=params, headers=headers) as plain:
            return await plain.text()
    except (aiohttp.ClientError, OSError):
        return ""
