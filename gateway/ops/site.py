"""The internal ops port: a second aiohttp site, apart from the public WebSocket port.

Serves only what operators and probes call (the routes it is given), on
`GATEWAY_OPS_HOST:GATEWAY_OPS_PORT`, so `/metrics` need not be reachable from the
internet. It starts before and stops after the public port, so scrapes and probes see
the whole drain. aiohttp's timeouts are set here on purpose (`KEEPALIVE_TIMEOUT`,
`SHUTDOWN_TIMEOUT`, no lingering), not left at its defaults of an hour, a minute and ten
seconds: whoever reaches this port cannot hold a socket by sending half a request.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from aiohttp import web
from aiohttp.typedefs import Middleware

__all__ = ["KEEPALIVE_TIMEOUT", "MAX_BODY_BYTES", "SHUTDOWN_TIMEOUT", "OpsSite"]

#: How long a connection may go without a complete request, from its start and between
#: requests, before aiohttp closes it (its default is 3,630 s, so half a request held a
#: socket for an hour). Probes connect per request; a scraper reconnects if it waited longer.
KEEPALIVE_TIMEOUT = 10.0
#: How long stopping waits for requests in flight (a scrape takes milliseconds).
SHUTDOWN_TIMEOUT = 1.0
#: The largest request body read (the operators' page posts a few hundred bytes of JSON);
#: a larger one is answered 413 without being read.
MAX_BODY_BYTES = 16 * 1024


class OpsSite:
    def __init__(
        self,
        routes: list[web.RouteDef],
        logger: logging.Logger | logging.LoggerAdapter[logging.Logger] | None = None,
        middlewares: Sequence[Middleware] = (),
    ) -> None:
        """`logger` takes aiohttp's server log lines (a request it refuses, a handler error)."""
        app = web.Application(client_max_size=MAX_BODY_BYTES, middlewares=middlewares)
        app.add_routes(routes)
        self._runner = web.AppRunner(
            app,
            handle_signals=False,
            access_log=None,
            keepalive_timeout=KEEPALIVE_TIMEOUT,
            shutdown_timeout=SHUTDOWN_TIMEOUT,
            # bodies are small and read whole (MAX_BODY_BYTES): nothing to wait for and
            # drop after a response
            lingering_time=0,
            logger=logger or logging.getLogger("aiohttp.server"),
        )
        self.port = 0

    async def start(self, host: str, port: int, *, reuse_port: bool = False) -> None:
        """Bind `host:port` (0 picks a free port; `self.port` then says which);
        `reuse_port` for a host's workers (issue 15), which share the port."""
        await self._runner.setup()
        try:
            await web.TCPSite(self._runner, host, port, reuse_port=reuse_port or None).start()
        except OSError:
            await self._runner.cleanup()
            raise
        self.port = next(
            int(address[1])
            for address in self._runner.addresses
            if isinstance(address, tuple) and len(address) >= 2
        )

    async def stop(self) -> None:
        await self._runner.cleanup()
