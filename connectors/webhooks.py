"""What every inbound webhook shares: the web app, size limits, JSON bodies, shared keys,
and the Standard Webhooks signature BigCommerce uses.

Refusals carry the right 4xx and publish nothing: 413 for a body over the limit, 400 for
a body that is not a JSON object, 401 for a missing or wrong credential, signature or a
stale timestamp, 422 for JSON that lacks what the provider always sends. A provider
retries what we do not acknowledge, so a failure on our side (the provider's API or
Kafka unavailable) answers 503 and is redelivered later.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from aiohttp import web
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from connectors.config import Secret

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def make_web_app(provider: str, routes: Sequence[web.RouteDef], max_body_bytes: int) -> web.Application:
    """The connector's webhook server: its routes, ``GET /health``, and the size limit."""

    @web.middleware
    async def limit_size(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.content_length is not None and request.content_length > max_body_bytes:
            raise web.HTTPRequestEntityTooLarge(max_size=max_body_bytes, actual_size=request.content_length)
        return await handler(request)

    async def health(request: web.Request) -> web.Response:
        return web.json_response({"connector": provider, "ok": True})

    app = web.Application(client_max_size=max_body_bytes, middlewares=[limit_size])
    app.router.add_get("/health", health)
    app.add_routes(routes)
    return app


def acknowledged() -> web.Response:
    """2xx with no body: what BigCommerce asks for, and enough for everyone else."""
    return web.Response(status=204)


def refused(status: int, reason: str) -> web.HTTPException:
    """A 4xx with a short plain-text reason (never an echo of what was sent)."""
    classes: dict[int, type[web.HTTPException]] = {
        400: web.HTTPBadRequest,
        401: web.HTTPUnauthorized,
        415: web.HTTPUnsupportedMediaType,
        422: web.HTTPUnprocessableEntity,
    }
    return classes[status](text=reason)


def unavailable(reason: str) -> web.HTTPException:
    """We could not take the message now; the provider should send it again."""
    return web.HTTPServiceUnavailable(text=reason)


async def read_body(request: web.Request) -> bytes:
    """The raw body (signatures are over raw bytes); 413 past the app's size limit."""
    return await request.read()


def json_object(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise refused(400, f"the body is not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise refused(400, "the body must be a JSON object")
    return data


def require(data: Mapping[str, Any], *fields: tuple[str, type | tuple[type, ...]]) -> None:
    """422 unless every ``(name, type)`` is present with that type."""
    missing = [
        name
        for name, kind in fields
        if not isinstance(data.get(name), kind) or (isinstance(data.get(name), bool) and kind is int)
    ]
    if missing:
        raise refused(422, f"missing or invalid: {', '.join(missing)}")


def check_shared_key(request: web.Request, key: Secret | None) -> None:
    """Providers with no signature (F&O business events, Flexe, SAP event subscriptions)
    call a URL with a secret in it: ``?key=...`` here. No key configured: nothing to check."""
    if key is None:
        return
    given = request.query.get("key", "")
    if not hmac.compare_digest(given.encode(), key.reveal().encode()):
        raise refused(401, "missing or wrong key")


class SignatureError(Exception):
    """The callback is not authentic, or not fresh."""


def verify_standard_webhook(webhook: Webhook, headers: Mapping[str, str], body: bytes) -> str:
    """Check the Standard Webhooks signature and timestamp (the reference library's
    ``verify``: ``v1`` HMAC-SHA256 over ``"{id}.{timestamp}.{body}"``, five minutes'
    tolerance); return the webhook id."""
    try:
        webhook.verify(body, dict(headers), json_parse=False)
    except (WebhookVerificationError, ValueError) as exc:  # ValueError: malformed base64, not UTF-8
        raise SignatureError(f"unsigned, wrongly signed or stale: {exc or type(exc).__name__}") from exc
    return {k.lower(): v for k, v in headers.items()}["webhook-id"]
