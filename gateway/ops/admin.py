"""The operators' page: `/admin` on the ops port, and the small JSON API it calls.

The page (`admin.html`, `admin.js`: plain ES modules, no build step) polls
`GET /admin/api/figures` every second and makes rates of the counters there; its forms
call the other three. What the API answers comes from the service, as the gRPC API's
does: every replica's figures and presence are asked of the other replicas the same way
(`NotificationService.every_replica_figures`, `presence`), Disconnect closes the user
everywhere, and the test notification goes through `publish` like any other.

    GET  /admin/api/figures                 → {"backend", "replicas": [figures, ...],
                                               "others_reached", "at"}
    GET  /admin/api/presence?user_id=<id>   → {"user_id", "connections"}
    POST /admin/api/disconnect  {"user_id"} → {"closed"}
    POST /admin/api/publish     {"target": "users"|"topic"|"everyone", "to", "type",
                                 "title", "body"} → {"id", "cursor", "delivered"}

The page and its script carry no data and are served to anyone who reaches the ops port;
the API needs `Authorization: Bearer <publish token>` when publish tokens are set (the
page asks for one). A POST must be `application/json` and, when the browser says where it
comes from, come from this page's own origin: a form or a script on another site cannot
send either, so it cannot make an operator's browser disconnect users.
"""

from __future__ import annotations

import hmac
import json
import time
from typing import Any

from aiohttp import web
from pydantic import ValidationError
from yarl import URL

from gateway.assets import Asset
from gateway.auth import bearer_token
from gateway.closecodes import CloseCode
from gateway.models import (
    Invalid,
    PublishInput,
    PublishItem,
    accepted,
    check_identifier,
    describe_errors,
)
from gateway.ops.site import MAX_BODY_BYTES
from gateway.service import Conflict, NotificationService, Unavailable

__all__ = ["AdminRoutes"]

_PACKAGE = __package__ or "gateway.ops"
#: The page loads its own script, calls its own API, and may not be framed: a page on
#: another site cannot lay it under a decoy and have an operator click Disconnect.
_PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; connect-src 'self'; "
    "style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}
_REASON = "disconnected by an operator"
_TARGETS = ("users", "topic", "everyone")


def _error(status: int, error: str, message: str) -> web.Response:
    return web.json_response({"error": error, "message": message}, status=status)


class AdminRoutes:
    def __init__(
        self, service: NotificationService, tokens: frozenset[str] | None, backend: str
    ) -> None:
        """`tokens`: the publish tokens the API asks for (None: open, as the gRPC API is)."""
        self._service = service
        self._tokens = None if tokens is None else [token.encode() for token in tokens]
        self._backend = backend
        self._page = Asset(_PACKAGE, "admin.html", "text/html")
        self._script = Asset(_PACKAGE, "admin.js", "application/javascript")

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/admin", self.page),
            web.get("/admin/admin.js", self.script),
            web.get("/admin/api/figures", self.figures),
            web.get("/admin/api/presence", self.presence),
            web.post("/admin/api/disconnect", self.disconnect),
            web.post("/admin/api/publish", self.publish),
        ]

    async def page(self, request: web.Request) -> web.Response:
        response = self._page.response(request)
        response.headers.update(_PAGE_HEADERS)
        return response

    async def script(self, request: web.Request) -> web.Response:
        return self._script.response(request)

    async def figures(self, request: web.Request) -> web.Response:
        if (refused := self._refuse(request)) is not None:
            return refused
        # when the others cannot be asked (Redis down), this replica's own figures still
        # answer: that is when an operator needs the page most
        others_reached = True
        try:
            replicas = await self._service.every_replica_figures()
        except Unavailable:
            replicas, others_reached = [self._service.figures()], False
        return web.json_response(
            {
                "backend": self._backend,
                "replicas": replicas,
                "others_reached": others_reached,
                "at": time.time(),
            }
        )

    async def presence(self, request: web.Request) -> web.Response:
        if (refused := self._refuse(request)) is not None:
            return refused
        try:
            user_id = check_identifier("user_id", request.query.get("user_id", ""))
            counts, _ = await self._service.presence([user_id], None)
        except Invalid as exc:
            return _error(400, "invalid", str(exc))
        except Unavailable as exc:
            return _error(503, "unavailable", str(exc))
        return web.json_response({"user_id": user_id, "connections": counts.get(user_id, 0)})

    async def disconnect(self, request: web.Request) -> web.Response:
        if (refused := self._refuse(request, posted=True)) is not None:
            return refused
        try:
            body = await self._json(request)
            user_id = check_identifier("user_id", _text(body, "user_id"))
            closed = await self._service.disconnect(user_id, CloseCode.DISCONNECTED, _REASON)
        except Invalid as exc:
            return _error(400, "invalid", str(exc))
        except Unavailable as exc:
            return _error(503, "unavailable", str(exc))
        return web.json_response({"closed": closed})

    async def publish(self, request: web.Request) -> web.Response:
        if (refused := self._refuse(request, posted=True)) is not None:
            return refused
        try:
            item = _publish_input(await self._json(request))
            result = await self._service.publish(item)
        except Invalid as exc:
            return _error(400, "invalid", str(exc))
        except Conflict as exc:
            return _error(409, "conflict", str(exc))
        except Unavailable as exc:
            return _error(503, "unavailable", str(exc))
        return web.json_response(
            {"id": item.notification.id, "cursor": result.cursor, "delivered": result.delivered}
        )

    def _refuse(self, request: web.Request, *, posted: bool = False) -> web.Response | None:
        """The answer to a call that may not go on (see the module docstring), or None."""
        if self._tokens is not None:
            token = bearer_token(request.headers.get("Authorization", ""))
            given = (token or "").encode()
            # compared with every token, so timing says nothing about which one matched
            if not sum(hmac.compare_digest(given, t) for t in self._tokens):
                return _error(
                    401, "unauthenticated", "send 'Authorization: Bearer <publish token>'"
                )
        if posted:
            if request.content_type != "application/json":
                return _error(415, "unsupported_media_type", "send the body as application/json")
            origin = request.headers.get("Origin")
            if origin is not None and URL(origin).authority != request.host:
                return _error(403, "forbidden_origin", "the admin API answers its own page only")
        return None

    @staticmethod
    async def _json(request: web.Request) -> dict[str, Any]:
        try:
            raw = await request.read()
        except web.HTTPRequestEntityTooLarge:
            # aiohttp stopped reading at the site's limit; answered in the API's own shape
            raise web.HTTPRequestEntityTooLarge(
                max_size=MAX_BODY_BYTES,
                actual_size=request.content_length or MAX_BODY_BYTES + 1,
                text=json.dumps(
                    {"error": "content_too_large", "message": f"at most {MAX_BODY_BYTES} bytes"}
                ),
                content_type="application/json",
            ) from None
        try:
            body = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            raise Invalid("body", "must be a JSON object") from None
        if not isinstance(body, dict):
            raise Invalid("body", "must be a JSON object")
        return body


def _text(body: dict[str, Any], name: str, default: str | None = None) -> str:
    value = body.get(name, default)
    if not isinstance(value, str):
        raise Invalid(name, "required (a string)" if value is None else "must be a string")
    return value


def _publish_input(body: dict[str, Any]) -> PublishItem:
    """The page's form as a publish, by the same model rules as the gRPC door."""
    kind = _text(body, "target")
    if kind not in _TARGETS:
        raise Invalid("target", f"one of {', '.join(_TARGETS)} (got {kind[:20]!r})")
    target: dict[str, Any] = {"kind": kind}
    if kind == "users":
        target["user_ids"] = [_text(body, "to")]
    elif kind == "topic":
        target["topic"] = _text(body, "to")
    notification = {
        "type": _text(body, "type"),
        "title": _text(body, "title", ""),
        "body": _text(body, "body", ""),
    }
    try:
        model = PublishInput.model_validate({"target": target, "notification": notification})
    except ValidationError as exc:
        raise describe_errors(exc) from None
    return accepted(model)
