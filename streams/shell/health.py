"""Readiness and the three HTTP routes every process serves: ``/metrics``, ``/health``, ``/ready``.

``/health`` answers 200 while the process is alive (its HTTP thread or event loop
answers at all). ``/ready`` answers 200 only when every check the process declared is
true: typically the broker answers, the consumer's partitions are assigned and it has
caught up with them. Loops flip their checks; the routes only read.

Threaded services (the writers, DOM, the backorder job) serve the routes with
:class:`HealthServer`, a small ``ThreadingHTTPServer``; aiohttp processes (the API,
connectors, simulators) add them to their own application with :func:`add_routes`.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

from streams.shell import metrics

if TYPE_CHECKING:  # aiohttp only for the processes that serve with it: commands start faster
    from aiohttp import web


class Check(StrEnum):
    """The conditions ``/ready`` waits for; a process declares the ones that apply to it."""

    BROKER = "broker"
    """The Kafka cluster answers."""
    ASSIGNED = "assigned"
    """The consumer group gave this process its partitions (an empty share counts)."""
    CAUGHT_UP = "caught_up"
    """Restored and read to the end of what was there when the partitions came."""
    SERVING = "serving"
    """The process's own server (webhooks, API) is listening."""


@dataclass(frozen=True)
class CheckState:
    ok: bool
    detail: str


class Readiness:
    """Thread-safe: loops set their checks from any thread; the routes read a snapshot."""

    def __init__(self, checks: Iterable[Check] = ()) -> None:
        self._lock = threading.Lock()
        self._checks: dict[Check, CheckState] = {c: CheckState(False, "not yet") for c in checks}
        self._probes: dict[Check, Callable[[], tuple[bool, str]]] = {}

    def probe(self, check: Check, ask: Callable[[], tuple[bool, str]]) -> None:
        """Ask ``ask()`` for this check whenever readiness is read (e.g. a projection's caught_up)."""
        with self._lock:
            self._probes[check] = ask
            self._checks.setdefault(check, CheckState(False, "not yet"))

    def require(self, *checks: Check) -> None:
        """Declare more checks (false until set)."""
        with self._lock:
            for check in checks:
                self._checks.setdefault(check, CheckState(False, "not yet"))

    def set(self, check: Check, ok: bool, detail: str = "") -> None:
        with self._lock:
            self._checks[check] = CheckState(ok, detail)

    def _snapshot(self) -> dict[Check, CheckState]:
        with self._lock:
            probes = dict(self._probes)
            states = dict(self._checks)
        for check, ask in probes.items():
            states[check] = CheckState(*ask())
        return states

    @property
    def ready(self) -> bool:
        return all(s.ok for s in self._snapshot().values())

    def report(self) -> dict[str, Any]:
        """The body of ``/ready``: the verdict and each check with what it last said."""
        checks = {c.value: {"ok": s.ok, "detail": s.detail} for c, s in self._snapshot().items()}
        return {"ready": all(c["ok"] for c in checks.values()), "checks": checks}


READINESS = Readiness()
"""This process's readiness: one per process, like the metrics registry."""


_before_scrape: list[Callable[[], None]] = []


def before_scrape(refresh: Callable[[], None]) -> None:
    """Run ``refresh`` before each ``/metrics`` answer (gauges read from state, e.g. orders by status)."""
    _before_scrape.append(refresh)


def scrape() -> bytes:
    for refresh in list(_before_scrape):
        refresh()
    return metrics.render()


def _ready_answer(readiness: Readiness) -> tuple[int, bytes]:
    report = readiness.report()
    return (200 if report["ready"] else 503), json.dumps(report).encode()


_HEALTHY = json.dumps({"alive": True}).encode()


def add_routes(app: web.Application, readiness: Readiness = READINESS, *, health: bool = True) -> None:
    """Mount ``/metrics``, ``/health`` (unless the app has its own) and ``/ready`` on an aiohttp app."""
    from aiohttp import web

    async def get_metrics(request: web.Request) -> web.Response:
        return web.Response(body=scrape(), headers={"Content-Type": metrics.CONTENT_TYPE})

    async def get_health(request: web.Request) -> web.Response:
        return web.Response(body=_HEALTHY, content_type="application/json")

    async def get_ready(request: web.Request) -> web.Response:
        status, body = _ready_answer(readiness)
        return web.Response(status=status, body=body, content_type="application/json")

    app.router.add_get("/metrics", get_metrics)
    if health:
        app.router.add_get("/health", get_health)
    app.router.add_get("/ready", get_ready)


class _Handler(BaseHTTPRequestHandler):
    readiness: Readiness = READINESS

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/metrics":
            self._answer(200, scrape(), metrics.CONTENT_TYPE)
        elif path == "/health":
            self._answer(200, _HEALTHY, "application/json")
        elif path == "/ready":
            self._answer(*_ready_answer(self.readiness), "application/json")
        else:
            self._answer(404, b'{"error": "not found"}', "application/json")

    def _answer(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Scrapes every few seconds are not news: no access log."""


class HealthServer:
    """``/metrics``, ``/health``, ``/ready`` on a daemon thread, for processes without aiohttp."""

    def __init__(self, host: str, port: int, readiness: Readiness = READINESS) -> None:
        handler = type("Handler", (_Handler,), {"readiness": readiness})
        self._server = ThreadingHTTPServer((host, port), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="health", daemon=True)

    @property
    def port(self) -> int:
        """The bound port (the one asked for, or the one the system chose for port 0)."""
        return int(self._server.server_address[1])

    def start(self) -> HealthServer:
        self._thread.start()
        return self

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
