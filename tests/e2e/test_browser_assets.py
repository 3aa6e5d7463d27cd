"""The browser assets: `/client.js` always, `/demo` only with the demo on, both cacheable;
the committed client.js built from the current clients/js sources."""

from __future__ import annotations

import hashlib
import re

import aiohttp

from gateway.config import Settings
from tests.support.gateway import StartGateway
from tests.support.helpers import ROOT

JS = ROOT / "clients/js"
CLIENT_JS = ROOT / "gateway/browser/client.js"


def source_hash() -> str:
    """What clients/js/scripts/sync-browser.mjs records: sha256 of the sources it built."""
    files = [*sorted(f"src/{p.name}" for p in (JS / "src").glob("*.ts")), "tsconfig.json"]
    digest = hashlib.sha256()
    for name in files:
        digest.update(name.encode() + b"\0" + (JS / name).read_bytes() + b"\0")
    return digest.hexdigest()


def test_committed_client_js_is_built_from_the_current_sources() -> None:
    header = CLIENT_JS.read_text().splitlines()[1]
    assert header == f"// sources-sha256: {source_hash()}", (
        "gateway/browser/client.js is stale: run `npm run build` in clients/js and commit it"
    )


async def test_client_js_is_served_with_cache_headers(
    start_gateway: StartGateway, http: aiohttp.ClientSession
) -> None:
    gateway = await start_gateway()
    url = f"http://127.0.0.1:{gateway.http_port}/client.js"
    async with http.get(url) as response:
        assert response.status == 200
        assert response.content_type == "application/javascript"
        assert response.headers["Cache-Control"] == "public, max-age=300"
        etag = response.headers["ETag"]
        body = await response.read()
    assert body == CLIENT_JS.read_bytes()
    assert re.search(rb"^export \{[^}]*\bNotificationClient\b", body, re.MULTILINE)
    async with http.get(url, headers={"If-None-Match": etag}) as response:
        assert response.status == 304
        assert await response.read() == b""
    async with http.get(url, headers={"If-None-Match": '"other"'}) as response:
        assert response.status == 200
    # before: only a header that was exactly the tag matched, so these refetched the body
    for matching in (f'"other", {etag}', f"W/{etag}", "*"):
        async with http.get(url, headers={"If-None-Match": matching}) as response:
            assert response.status == 304, matching
    for other in ('W/"other"', "not-a-tag", etag[1:-1], ","):
        async with http.get(url, headers={"If-None-Match": other}) as response:
            assert response.status == 200, other


async def test_demo_is_off_by_default_and_served_when_on(
    start_gateway: StartGateway, http: aiohttp.ClientSession
) -> None:
    off = await start_gateway()
    async with http.get(f"http://127.0.0.1:{off.http_port}/demo") as response:
        assert response.status == 404
        assert (await response.json())["error"] == "not_found"
    on = await start_gateway(demo=True)
    async with http.get(f"http://127.0.0.1:{on.http_port}/demo") as response:
        assert response.status == 200
        assert response.content_type == "text/html"
        page = await response.text()
    assert 'import { NotificationClient } from "/client.js"' in page


def test_demo_setting_reads_gateway_demo(monkeypatch) -> None:
    assert Settings().demo is False
    monkeypatch.setenv("GATEWAY_DEMO", "1")
    assert Settings().demo is True
