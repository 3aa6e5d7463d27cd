"""A page served by a test's own aiohttp routes and opened in headless Chromium, without
Selenium: the page reports back by POSTing to those routes, so the test reads what the
browser saw without a driver (EventSource and WebSocket auth behave as in a user's tab).
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from aiohttp import web

__all__ = ["HEADLESS_CHROMIUM", "needs_headless_chromium", "page_in_chromium"]

HEADLESS_CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

#: A test's mark when it opens a page with `page_in_chromium` (no chromedriver needed).
needs_headless_chromium = pytest.mark.skipif(
    HEADLESS_CHROMIUM is None, reason="needs Chromium (apt-get install chromium)"
)


@asynccontextmanager
async def page_in_chromium(routes: Sequence[web.RouteDef], profile: Path) -> AsyncIterator[None]:
    """Serves `routes` on a free port and opens its `/` in headless Chromium with `profile`
    as its user-data dir; on exit the browser is killed before the routes stop serving."""
    assert HEADLESS_CHROMIUM is not None
    app = web.Application()
    app.add_routes(routes)
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        browser = await asyncio.create_subprocess_exec(
            HEADLESS_CHROMIUM,
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            f"--user-data-dir={profile}",
            f"http://127.0.0.1:{runner.addresses[0][1]}/",
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        try:
            yield
        finally:
            browser.kill()
            await browser.wait()
    finally:
        await runner.cleanup()
