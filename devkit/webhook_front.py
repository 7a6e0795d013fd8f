"""A webhook front for several instances of each connector: the one URL a provider calls,
as a load balancer in front of them would be.

Two ways to spread deliveries over the instances behind a path:

- ``round-robin``: each delivery goes to the next instance, so any instance may get any
  delivery and a provider's retry usually lands on another one than the first try;
- ``all``: every delivery goes to every instance at once: the worst case of a redelivery
  landing on a second instance while the first is still taking the message. The provider
  sees the first instance's answer.

Dedupe that lives in one instance's store cannot hold under either; the command ids the
connectors derive from the provider's message ids must. ``GET /_front/deliveries`` counts
what each instance answered; ``PUT /_front/spread {"spread": "all"}`` switches at run time.

    python -m devkit.webhook_front --port 9100 \\
        --route /webhooks/fno=http://127.0.0.1:9102,http://127.0.0.1:9112 --spread all
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import logging
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from enum import StrEnum

from aiohttp import ClientError, ClientSession, ClientTimeout, web

log = logging.getLogger(__name__)

HOP_BY_HOP = frozenset({"host", "content-length", "connection", "transfer-encoding", "keep-alive"})


class Spread(StrEnum):
    ROUND_ROBIN = "round-robin"
    ALL = "all"


class WebhookFront:
    """Forwards ``POST <path>...`` (query and headers kept, body byte for byte) to the
    instances of the route whose path prefix matches."""

    def __init__(self, routes: Mapping[str, Sequence[str]], spread: Spread = Spread.ROUND_ROBIN) -> None:
        if not routes or not all(routes.values()):
            raise ValueError("every route needs at least one instance")
        self.routes = {prefix: [u.rstrip("/") for u in urls] for prefix, urls in routes.items()}
        self.spread = spread
        self.answered: Counter[tuple[str, int]] = Counter()
        """(instance URL, HTTP status) -> deliveries."""
        self._turns: dict[str, Iterator[str]] = {p: itertools.cycle(urls) for p, urls in self.routes.items()}
        self._http: ClientSession | None = None

    def app(self) -> web.Application:
        app = web.Application(client_max_size=4 * 1024 * 1024)
        app.router.add_get("/_front/health", self._health)
        app.router.add_get("/_front/deliveries", self._deliveries)
        app.router.add_put("/_front/spread", self._set_spread)
        app.router.add_post("/{tail:.*}", self._forward)
        app.on_cleanup.append(self._close)
        return app

    def _targets(self, path: str) -> list[str]:
        for prefix, urls in self.routes.items():
            if path.startswith(prefix):
                return list(urls) if self.spread is Spread.ALL else [next(self._turns[prefix])]
        raise web.HTTPNotFound(text=f"no route for {path}")

    async def _forward(self, request: web.Request) -> web.Response:
        targets = self._targets(request.path)
        body = await request.read()
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP}
        answers = await asyncio.gather(*(self._send(url, request.path_qs, headers, body) for url in targets))
        return answers[0]

    async def _send(self, base: str, path_qs: str, headers: Mapping[str, str], body: bytes) -> web.Response:
        if self._http is None:
            self._http = ClientSession(timeout=ClientTimeout(total=30))
        try:
            async with self._http.post(base + path_qs, data=body, headers=headers) as reply:
                text = await reply.read()
                self.answered[(base, reply.status)] += 1
                return web.Response(status=reply.status, body=text, content_type=reply.content_type)
        except (ClientError, TimeoutError) as exc:
            self.answered[(base, 502)] += 1
            log.info("front: %s did not answer: %s", base, exc)
            return web.Response(status=502, text=f"instance {base} did not answer")

    async def _health(self, request: web.Request) -> web.Response:
        return web.json_response({"front": True, "ok": True, "spread": self.spread.value})

    async def _deliveries(self, request: web.Request) -> web.Response:
        counts: dict[str, dict[str, int]] = {}
        for (url, status), n in self.answered.items():
            counts.setdefault(url, {})[str(status)] = n
        return web.json_response({"spread": self.spread.value, "instances": counts})

    async def _set_spread(self, request: web.Request) -> web.Response:
        wanted = (await request.json()).get("spread")
        try:
            self.spread = Spread(wanted)
        except ValueError as exc:
            raise web.HTTPBadRequest(text=f"spread is one of {[s.value for s in Spread]}") from exc
        return await self._health(request)

    async def _close(self, app: web.Application) -> None:
        if self._http is not None:
            await self._http.close()


def parse_route(text: str) -> tuple[str, list[str]]:
    """``/path=URL,URL`` -> (path, [URL, URL])."""
    prefix, sep, urls = text.partition("=")
    targets = [u.strip() for u in urls.split(",") if u.strip()]
    if not sep or not prefix.startswith("/") or not targets:
        raise argparse.ArgumentTypeError(f"a route is /path=URL[,URL...], not {text!r}")
    return prefix, targets


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m devkit.webhook_front``."""
    parser = argparse.ArgumentParser(
        prog="python -m devkit.webhook_front", description="One webhook URL before several instances."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--route", type=parse_route, action="append", required=True, help="/path=URL,URL")
    parser.add_argument("--spread", type=Spread, default=Spread.ROUND_ROBIN, choices=list(Spread))
    parser.add_argument("--log-level", default="WARNING")
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(message)s")
    front = WebhookFront(dict(args.route), args.spread)
    web.run_app(front.app(), host=args.host, port=args.port, print=None, access_log=None)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
