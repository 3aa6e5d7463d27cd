"""The internal ops port: a second aiohttp site, apart from the public WebSocket port.

Serves only what operators and probes call (the routes it is given), on
`GATEWAY_OPS_HOST:GATEWAY_OPS_PORT`, so `/metrics` need not be reachable from the
internet. It starts before and stops after the public port, so scrapes and probes see
the whole drain.
"""

from __future__ import annotations

from aiohttp import web

__all__ = ["OpsSite"]


class OpsSite:
    def __init__(self, routes: list[web.RouteDef]) -> None:
        app = web.Application()
        app.add_routes(routes)
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None)
        self.port = 0

    async def start(self, host: str, port: int) -> None:
        """Bind `host:port` (0 picks a free port; `self.port` then says which)."""
        await self._runner.setup()
        try:
            await web.TCPSite(self._runner, host, port).start()
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
