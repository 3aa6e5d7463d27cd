"""Calls to the operators' page's JSON API (`/admin/api/...` on the ops port)."""

from __future__ import annotations

from typing import Any

import aiohttp

from gateway.app import Gateway

__all__ = ["JSON", "admin_url", "get_json", "post_json"]

JSON = {"Content-Type": "application/json"}


def admin_url(gateway: Gateway, path: str) -> str:
    return f"http://127.0.0.1:{gateway.ops_port}/admin/api/{path}"


async def get_json(http: aiohttp.ClientSession, url: str, **kw: Any) -> tuple[int, Any]:
    async with http.get(url, **kw) as response:
        return response.status, await response.json()


async def post_json(
    http: aiohttp.ClientSession, url: str, body: Any, headers: dict[str, str] | None = None
) -> tuple[int, Any]:
    """POSTs `body` as JSON; the status and the JSON answer."""
    async with http.post(url, json=body, headers=headers) as response:
        return response.status, await response.json(content_type=None)
