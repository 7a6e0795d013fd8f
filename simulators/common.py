"""What the four provider simulators share: the app factory, the ``/_sim`` control plane
basics, fault injection, the request log, outbound webhook delivery with retries, ids and
the clock.

Every simulator is a :class:`Simulator` subclass with a table of vendor routes and a table
of its own control routes. :meth:`Simulator.make_app` adds the common control plane
(provider-apis.md section 6, "Global conventions"):

=======  ==========================  ===================================================
method   path                        what it does
=======  ==========================  ===================================================
GET      /_sim/health                ``{"simulator": name, "ok": true}``
POST     /_sim/reset                 drop all state; ``{"counters": false}`` keeps the id
                                     counters running so ids never repeat in one process
GET      /_sim/config                the live settings (secrets included: it is a test tool)
PUT      /_sim/config                change settings, e.g. ``{"webhook_url": "..."}``
POST     /_sim/faults                inject a fault, see :class:`FaultInjector`
GET      /_sim/faults                the faults still armed
DELETE   /_sim/faults                disarm all faults
GET      /_sim/requests              vendor API requests received (``?method=&path=``
                                     ``&path_prefix=``), secrets redacted
DELETE   /_sim/requests              forget them
GET      /_sim/deliveries            outbound webhook deliveries and their attempts
                                     (``?state=&event_type=&event_id=``)
POST     /_sim/deliveries/drain      wait until no delivery is pending
                                     (``{"timeout": 5}``) -> ``{"settled": bool, ...}``
GET      /_sim/parked                deliveries that gave up (the vendor's error list)
POST     /_sim/parked/replay         send them again (``{"ids": [...]}``, default all)
GET      /_sim/holdings              how many orders or documents the vendor holds per
                                     our order (``?ref=``), see :class:`Holdings`
=======  ==========================  ===================================================

Vendor requests pass through one middleware: injected faults first, then the
simulator's own admission (authentication, real rate limits), then the handler. Nothing
under ``/_sim`` is faulted, authenticated or logged in ``/_sim/requests``.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import math
import random
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any, ClassVar, Final, TypeVar, cast, get_type_hints
from urllib.parse import parse_qsl

from aiohttp import ClientError, ClientSession, ClientTimeout, web
from pydantic import Field, create_model

from streams.shell.commands import run_command, with_settings
from streams.shell.health import READINESS, Check, add_routes
from streams.shell.settings import ProcessSettings

log = logging.getLogger("simulators")

Json = Any
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

CONTROL_PREFIX: Final = "/_sim"
SECRET_WORDS = ("secret", "token", "password", "key")
SHELL_ROUTES = frozenset({"/metrics", "/health", "/ready"})
"""The process shell's routes: like ``/_sim``, never faulted, authenticated or logged as vendor calls."""
REQUEST_FAULTS: Final = frozenset({"5xx", "429", "timeout", "bad_payload"})
WEBHOOK_FAULTS: Final = frozenset({"duplicate_webhook"})
FAULT_KINDS: Final = REQUEST_FAULTS | WEBHOOK_FAULTS
SECRET_HEADERS: Final = frozenset(
    {"authorization", "proxy-authorization", "x-auth-token", "cookie", "x-csrf-token", "apikey"}
)
SECRET_FIELDS: Final = frozenset({"client_secret", "password", "client_assertion"})
_ID_NAMESPACE: Final = uuid.UUID("6f1d7c1e-2b0a-4c55-9d64-0b7a0c1f3e21")


class ApiError(Exception):
    """A vendor error; each simulator renders it in its vendor's error shape."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: str = "",
        headers: Mapping[str, str] | None = None,
        details: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.headers = dict(headers or {})
        self.details = dict(details or {})


@dataclass(frozen=True)
class Holdings:
    """What a vendor holds that we made, counted per our order: a soak or a test audits
    "exactly one copy per order" from it, whatever the connector retried.

    ``kind`` names what is counted (``sales orders``), ``key`` the vendor field that names
    our order (``CustomersOrderReference``), ``counts`` maps its values to their counts.
    """

    kind: str = ""
    key: str = ""
    counts: Mapping[str, int] = field(default_factory=dict)

    def as_json(self, ref: str | None = None) -> dict[str, Any]:
        counts = dict(self.counts) if ref is None else {ref: self.counts.get(ref, 0)}
        return {
            "kind": self.kind,
            "key": self.key,
            "total": sum(counts.values()),
            "holdings": counts,
            "duplicates": {k: n for k, n in counts.items() if n > 1},
        }


@dataclass(frozen=True)
class Route:
    """One row of a routes table: the handler is a method name on the simulator."""

    method: str
    path: str
    handler: str


def setting(default: Any, help: str) -> Any:
    """A simulator setting: its default and the help of its flag (``--name``, ``SIM_<P>_NAME``)."""
    return field(default=default, metadata={"help": help})


@dataclass
class SimSettings:
    """Settings every simulator has; subclasses add the vendor's credentials.

    ``time_scale`` multiplies every vendor delay (webhook retry intervals): 0.001 makes a
    60 s retry wait 60 ms. ``hang_seconds`` is how long an injected timeout holds the
    request (real seconds, not scaled). ``delivery_timeout`` bounds one webhook attempt.
    """

    host: str = setting("127.0.0.1", "address to bind")
    port: int = setting(0, "port to bind (0: any free one)")
    webhook_url: str | None = setting(None, "where outbound events are POSTed (none: not sent)")
    time_scale: float = setting(
        1.0, "multiplier for vendor delays such as webhook retries (0.001: 60 s -> 60 ms)"
    )
    hang_seconds: float = setting(120.0, "how long an injected 'timeout' fault holds a request")
    delivery_timeout: float = setting(10.0, "seconds per webhook attempt")


class Clock:
    """Wall-clock time for timestamps; vendor delays scaled by ``time_scale``."""

    def __init__(self, settings: SimSettings) -> None:
        self._settings = settings

    @property
    def scale(self) -> float:
        return self._settings.time_scale

    def now(self) -> datetime:
        return datetime.now(UTC)

    async def sleep(self, vendor_seconds: float) -> None:
        await asyncio.sleep(vendor_seconds * self.scale)


class Ids:
    """Deterministic ids: named counters, and uuid5s from (simulator, epoch, kind, n).

    ``reset`` starts a new epoch, so event ids never repeat within one process (a consumer
    that dedupes on them keeps working across ``/_sim/reset``) yet are the same for the
    same sequence of calls.
    """

    def __init__(self, namespace: str) -> None:
        self._namespace = namespace
        self._counters: dict[str, int] = {}
        self.epoch = 0

    def next(self, name: str, start: int = 1) -> int:
        value = self._counters.get(name, start - 1) + 1
        self._counters[name] = value
        return value

    def uuid(self, kind: str) -> str:
        n = self.next(f"uuid:{kind}")
        return str(uuid.uuid5(_ID_NAMESPACE, f"{self._namespace}/{self.epoch}/{kind}/{n}"))

    def reset(self, *, counters: bool = True) -> None:
        self.epoch += 1
        if counters:
            self._counters.clear()


# --- fault injection -----------------------------------------------------------------


@dataclass
class Fault:
    """An armed fault: the next ``count`` matching requests (or webhooks) suffer it.

    kinds: ``5xx`` (``status``, default 500, vendor error body), ``429`` (the vendor's
    throttling answer, advertising ``retry_after`` seconds), ``timeout`` (hold the request
    ``hang_seconds``; ``when: "before"`` applies nothing, ``when: "after"`` applies the
    request and then loses the response), ``bad_payload`` (apply the request, answer
    with the same status and a truncated, unparsable body), ``duplicate_webhook``
    (deliver the next outbound event twice, same event id; ``path_prefix`` matches the
    event type). ``path_prefix`` and ``method`` narrow which requests match.
    ``probability`` below 1 makes a matching request suffer the fault only that often
    (a seeded draw per fault, ``seed``): a chaos run arms a rate, not a burst.
    """

    id: int
    kind: str
    count: int
    path_prefix: str = ""
    method: str = ""
    status: int | None = None
    retry_after: float = 1.0
    when: str = "before"
    probability: float = 1.0
    seed: int | None = None
    fired: int = 0

    def matches(self, method: str, path: str) -> bool:
        return (
            self.count > 0
            and path.startswith(self.path_prefix)
            and (not self.method or self.method == method.upper())
        )


class FaultInjector:
    """The armed faults; ``POST /_sim/faults`` adds one (see :class:`Fault`)."""

    def __init__(self) -> None:
        self._faults: list[Fault] = []
        self._draws: dict[int, random.Random] = {}
        self._next_id = 1

    def add(self, spec: Mapping[str, Any]) -> Fault:
        kind = spec.get("kind")
        if kind not in FAULT_KINDS:
            raise ValueError(f"kind must be one of {sorted(FAULT_KINDS)}, not {kind!r}")
        count = spec.get("count", 1)
        if not isinstance(count, int) or isinstance(count, bool) or count < 1:
            raise ValueError("count must be a positive integer")
        status = spec.get("status")
        if status is not None and (not isinstance(status, int) or not 400 <= status <= 599):
            raise ValueError("status must be an HTTP error status (400..599)")
        if kind == "5xx" and status is None:
            status = 500
        retry_after = spec.get("retry_after", 1.0)
        if not isinstance(retry_after, int | float) or retry_after < 0:
            raise ValueError("retry_after must be a non-negative number of seconds")
        when = spec.get("when", "before")
        if when not in ("before", "after"):
            raise ValueError('when must be "before" or "after"')
        path_prefix = spec.get("path_prefix") or ""
        method = spec.get("method") or ""
        if not isinstance(path_prefix, str) or not isinstance(method, str):
            raise ValueError("path_prefix and method must be strings")
        probability = spec.get("probability", 1.0)
        number = isinstance(probability, int | float) and not isinstance(probability, bool)
        if not number or not 0 < probability <= 1:
            raise ValueError("probability must be a number in (0, 1]")
        seed = spec.get("seed")
        if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
            raise ValueError("seed must be an integer")
        fault = Fault(
            id=self._next_id,
            kind=kind,
            count=count,
            path_prefix=path_prefix,
            method=method.upper(),
            status=status,
            retry_after=float(retry_after),
            when=when,
            probability=float(probability),
            seed=seed,
        )
        self._next_id += 1
        self._faults.append(fault)
        self._draws[fault.id] = random.Random(fault.id if seed is None else seed)
        return fault

    def take(self, kinds: Iterable[str], method: str, path: str) -> Fault | None:
        """Consume one shot of the first armed fault of ``kinds`` matching the request."""
        wanted = set(kinds)
        for fault in self._faults:
            if fault.kind in wanted and fault.matches(method, path) and self._drawn(fault):
                fault.count -= 1
                fault.fired += 1
                return fault
        return None

    def _drawn(self, fault: Fault) -> bool:
        return fault.probability >= 1.0 or self._draws[fault.id].random() < fault.probability

    def clear(self) -> None:
        self._faults.clear()
        self._draws.clear()

    def as_json(self) -> list[dict[str, Any]]:
        return [dataclasses.asdict(f) for f in self._faults if f.count > 0]


# --- request log ---------------------------------------------------------------------


@dataclass
class LoggedRequest:
    seq: int
    at: str
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Json
    status: int | None = None
    fault: str | None = None
    duration_ms: float = 0.0
    via_batch: int | None = None


class RequestLog:
    """Vendor API requests as received, secrets redacted (``GET /_sim/requests``)."""

    def __init__(self) -> None:
        self.entries: list[LoggedRequest] = []

    def add(
        self,
        method: str,
        path: str,
        query: Mapping[str, str],
        headers: Mapping[str, str],
        body: bytes,
        content_type: str,
        *,
        via_batch: int | None = None,
    ) -> LoggedRequest:
        entry = LoggedRequest(
            seq=len(self.entries) + 1,
            at=datetime.now(UTC).isoformat(),
            method=method,
            path=path,
            query=dict(query),
            headers=redact_headers(headers),
            body=loggable_body(body, content_type),
            via_batch=via_batch,
        )
        self.entries.append(entry)
        return entry

    def select(self, method: str = "", path: str = "", path_prefix: str = "") -> list[LoggedRequest]:
        return [
            e
            for e in self.entries
            if (not method or e.method == method.upper())
            and (not path or e.path == path)
            and e.path.startswith(path_prefix)
        ]


def redact_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """Headers minus secrets: credentials become ``[redacted]`` (``Fetch`` stays visible)."""
    out: dict[str, str] = {}
    for name, value in headers.items():
        secret = name.lower() in SECRET_HEADERS and value.lower() != "fetch"
        out[name] = "[redacted]" if secret else value
    return out


def loggable_body(body: bytes, content_type: str) -> Json:
    if not body:
        return None
    text = body.decode("utf-8", errors="replace")
    if "json" in content_type:
        try:
            return json.loads(text)
        except ValueError:
            return text[:65536]
    if content_type == "application/x-www-form-urlencoded":
        form = dict(parse_qsl(text, keep_blank_values=True))
        return {k: "[redacted]" if k in SECRET_FIELDS else v for k, v in form.items()}
    return text[:65536]


# --- outbound webhooks ---------------------------------------------------------------


@dataclass
class Attempt:
    number: int
    at: str
    status: int | None
    error: str | None
    duration_ms: float


@dataclass
class Delivery:
    """One outbound event to one destination, with every attempt made to deliver it.

    ``state``: ``pending`` (attempting or waiting to retry), ``delivered`` (a 2xx came
    back), ``parked`` (retries exhausted, kept for replay: F&O's error list),
    ``failed`` (retries exhausted, not replayable: BigCommerce deactivates the hook),
    ``no_destination`` (no URL configured; nothing was sent).
    """

    id: str
    event_id: str
    event_type: str
    url: str | None
    body: bytes
    schedule: tuple[float, ...]
    content_type: str = "application/json"
    exhausted: str = "parked"
    state: str = "pending"
    attempts: list[Attempt] = field(default_factory=list)
    duplicate_of: str | None = None
    headers: Callable[[Delivery], Mapping[str, str]] | None = field(default=None, repr=False)
    on_exhausted: Callable[[Delivery], None] | None = field(default=None, repr=False)

    def as_json(self) -> dict[str, Any]:
        try:
            payload: Json = json.loads(self.body)
        except ValueError:
            payload = self.body.decode("utf-8", errors="replace")
        return {
            "id": self.id,
            "event_id": self.event_id,
            "event_type": self.event_type,
            "url": self.url,
            "state": self.state,
            "schedule": list(self.schedule),
            "duplicate_of": self.duplicate_of,
            "attempts": [dataclasses.asdict(a) for a in self.attempts],
            "payload": payload,
        }


class WebhookSender:
    """Delivers JSON events with the vendor's retry schedule, scaled by the clock.

    The first attempt is immediate; after a failure (non-2xx, connection error or
    ``delivery_timeout``) it waits ``schedule[i] * time_scale`` and tries again. When the
    schedule is exhausted the delivery is parked (or failed) and ``on_exhausted`` runs.
    The body bytes are fixed at send time, so a retry or a replay is byte-identical;
    ``headers(delivery)`` runs per attempt (a signature carries the attempt's time).
    """

    def __init__(self, name: str, settings: SimSettings, clock: Clock, faults: FaultInjector):
        self._name = name
        self._settings = settings
        self._clock = clock
        self._faults = faults
        self._session: ClientSession | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._next = 1
        self.deliveries: list[Delivery] = []

    def send(
        self,
        *,
        url: str | None,
        event_id: str,
        event_type: str,
        payload: Json,
        schedule: Sequence[float],
        content_type: str = "application/json",
        exhausted: str = "parked",
        headers: Callable[[Delivery], Mapping[str, str]] | None = None,
        on_exhausted: Callable[[Delivery], None] | None = None,
    ) -> list[Delivery]:
        """Queue one event (two copies if a ``duplicate_webhook`` fault is armed)."""
        body = json.dumps(payload, separators=(",", ":")).encode()
        copies = 2 if self._faults.take(WEBHOOK_FAULTS, "POST", event_type) else 1
        sent: list[Delivery] = []
        for _ in range(copies):
            delivery = Delivery(
                id=f"{self._name}-dlv-{self._next:06d}",
                event_id=event_id,
                event_type=event_type,
                url=url,
                body=body,
                schedule=tuple(schedule),
                content_type=content_type,
                exhausted=exhausted,
                duplicate_of=sent[0].id if sent else None,
                headers=headers,
                on_exhausted=on_exhausted,
            )
            self._next += 1
            self.deliveries.append(delivery)
            sent.append(delivery)
            if url is None:
                delivery.state = "no_destination"
            else:
                self._start(delivery)
        return sent

    def replay(self, ids: Iterable[str] | None = None) -> list[Delivery]:
        """Send parked deliveries again (the F&O error list's Resend), same body and id."""
        wanted = set(ids) if ids is not None else None
        again = [d for d in self.deliveries if d.state == "parked" and (wanted is None or d.id in wanted)]
        for delivery in again:
            delivery.state = "pending"
            self._start(delivery)
        return again

    def parked(self) -> list[Delivery]:
        return [d for d in self.deliveries if d.state == "parked"]

    def pending(self) -> int:
        return sum(1 for d in self.deliveries if d.state == "pending")

    async def drain(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while self._tasks:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            await asyncio.wait(set(self._tasks), timeout=left)
        return True

    def reset(self) -> None:
        for task in self._tasks:
            task.cancel()
        self._tasks.clear()
        self.deliveries.clear()
        self._next = 1

    async def close(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _start(self, delivery: Delivery) -> None:
        task = asyncio.get_running_loop().create_task(self._run(delivery))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, delivery: Delivery) -> None:
        for delay in (0.0, *delivery.schedule):
            if delay:
                await self._clock.sleep(delay)
            if await self._attempt(delivery):
                delivery.state = "delivered"
                return
        delivery.state = delivery.exhausted
        log.info("%s: %s %s gave up: %s", self._name, delivery.id, delivery.event_type, delivery.state)
        if delivery.on_exhausted is not None:
            delivery.on_exhausted(delivery)

    async def _attempt(self, delivery: Delivery) -> bool:
        assert delivery.url is not None
        if self._session is None:
            self._session = ClientSession()
        headers = {"Content-Type": delivery.content_type}
        if delivery.headers is not None:
            headers.update(delivery.headers(delivery))
        number = len(delivery.attempts) + 1
        at = datetime.now(UTC).isoformat()
        started = time.perf_counter()
        status: int | None = None
        error: str | None = None
        try:
            async with self._session.post(
                delivery.url,
                data=delivery.body,
                headers=headers,
                timeout=ClientTimeout(total=self._settings.delivery_timeout),
            ) as response:
                await response.read()
                status = response.status
        except (ClientError, TimeoutError) as exc:
            error = f"{type(exc).__name__}: {exc}"
        elapsed = (time.perf_counter() - started) * 1000
        delivery.attempts.append(Attempt(number, at, status, error, round(elapsed, 1)))
        ok = status is not None and 200 <= status < 300
        log.info(
            "%s: webhook %s %s attempt %d -> %s",
            self._name,
            delivery.event_type,
            delivery.url,
            number,
            status if status is not None else error,
        )
        return ok


class FixedWindowLimiter:
    """A request quota per fixed window (real time, not scaled)."""

    def __init__(self, quota: int, window_seconds: float) -> None:
        self.quota = quota
        self.window = window_seconds
        self._start = time.monotonic()
        self._used = 0

    def _roll(self) -> None:
        now = time.monotonic()
        if now - self._start >= self.window:
            self._start = now
            self._used = 0

    def hit(self) -> bool:
        """Count one request; False when the quota of this window is spent."""
        self._roll()
        if self._used >= self.quota:
            return False
        self._used += 1
        return True

    @property
    def left(self) -> int:
        self._roll()
        return max(0, self.quota - self._used)

    @property
    def reset_in(self) -> float:
        """Seconds until the window (and the quota) resets."""
        return max(0.0, self.window - (time.monotonic() - self._start))

    def reset(self) -> None:
        self._start = time.monotonic()
        self._used = 0


# --- the simulator base class and app factory ----------------------------------------

S = TypeVar("S", bound=SimSettings)


class Simulator:
    """Base of the four simulators: routes tables, state reset, vendor error shapes.

    Subclasses set ``name``, ``vendor_routes`` and ``control_routes`` (method names as
    handlers), and override :meth:`reset_state`, :meth:`error_response`,
    :meth:`throttled_response`, :meth:`admit` and :meth:`finish` as their vendor needs.
    """

    name: ClassVar[str] = "sim"
    vendor_routes: ClassVar[Sequence[Route]] = ()
    control_routes: ClassVar[Sequence[Route]] = ()

    def __init__(self, settings: SimSettings) -> None:
        self.settings = settings
        self.clock = Clock(settings)
        self.ids = Ids(self.name)
        self.faults = FaultInjector()
        self.requests = RequestLog()
        self.webhooks = WebhookSender(self.name, settings, self.clock, self.faults)
        self._closing = asyncio.Event()
        self.reset_state()

    # -- what subclasses override --

    def reset_state(self) -> None:
        """Replace the vendor state with a fresh store."""

    def api_routes(self) -> Sequence[Route]:
        return self.vendor_routes

    def error_response(self, request: web.Request, error: ApiError) -> web.Response:
        return web.json_response(
            {"error": error.message, "code": error.code}, status=error.status, headers=error.headers
        )

    def throttled_response(self, request: web.Request, retry_after: float) -> web.Response:
        error = ApiError(429, "Too Many Requests", headers={"Retry-After": retry_after_header(retry_after)})
        return self.error_response(request, error)

    async def admit(self, request: web.Request) -> web.StreamResponse | None:
        """Authenticate and rate-limit a vendor request: a response refuses it."""
        return None

    def finish(self, request: web.Request, response: web.StreamResponse) -> None:
        """Last touch on every vendor response (e.g. rate-limit headers)."""

    def holdings(self) -> Holdings:
        """What the vendor holds per our order (``GET /_sim/holdings``)."""
        return Holdings()

    # -- the app --

    def make_app(self) -> web.Application:
        app = web.Application(middlewares=[self._middleware], client_max_size=16 * 1024 * 1024)
        for route in (*self.api_routes(), *COMMON_CONTROL_ROUTES, *self.control_routes):
            app.router.add_route(route.method, route.path, self._handler(route.handler))
        app.on_startup.append(self._on_startup)
        app.on_shutdown.append(self._on_shutdown)
        return app

    def _handler(self, name: str) -> Handler:
        handler = getattr(self, name, None)
        if not callable(handler):
            raise TypeError(f"{type(self).__name__} has no handler {name!r}")
        return cast(Handler, handler)

    async def _on_startup(self, app: web.Application) -> None:
        self._closing.clear()

    async def _on_shutdown(self, app: web.Application) -> None:
        self._closing.set()
        await self.webhooks.close()

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        started = time.perf_counter()
        body = await request.read()
        vendor = not request.path.startswith(CONTROL_PREFIX) and request.path not in SHELL_ROUTES
        entry: LoggedRequest | None = None
        fault: Fault | None = None
        if vendor:
            entry = self.requests.add(
                request.method,
                request.path,
                {k: v for k, v in request.query.items()},
                request.headers,
                body,
                request.content_type,
            )
            fault = self.faults.take(REQUEST_FAULTS, request.method, request.path)
        response = await self._respond(request, handler, vendor, fault)
        if vendor:
            self.finish(request, response)
        elapsed = (time.perf_counter() - started) * 1000
        if entry is not None:
            entry.status = response.status
            entry.fault = fault.kind if fault else None
            entry.duration_ms = round(elapsed, 1)
        log.info(
            "%s %s %s -> %d (%.1f ms)%s",
            self.name,
            request.method,
            request.path_qs,
            response.status,
            elapsed,
            f" [fault {fault.kind}]" if fault else "",
        )
        return response

    async def _respond(
        self, request: web.Request, handler: Handler, vendor: bool, fault: Fault | None
    ) -> web.StreamResponse:
        if fault is not None and fault.kind == "5xx":
            status = fault.status or 500
            return self.error_response(request, ApiError(status, HTTPStatus(status).phrase))
        if fault is not None and fault.kind == "429":
            return self.throttled_response(request, fault.retry_after)
        if fault is not None and fault.kind == "timeout" and fault.when == "before":
            await self.hang()
            return self.error_response(request, ApiError(504, "Gateway Timeout"))
        response = await self._call(request, handler, vendor)
        if fault is not None and fault.kind == "bad_payload":
            response = corrupt(response)
        if fault is not None and fault.kind == "timeout":
            await self.hang()
        return response

    async def _call(self, request: web.Request, handler: Handler, vendor: bool) -> web.StreamResponse:
        try:
            if vendor:
                refusal = await self.admit(request)
                if refusal is not None:
                    return refusal
            return await handler(request)
        except ApiError as error:
            if vendor:
                return self.error_response(request, error)
            return web.json_response({"error": error.message}, status=error.status)
        except web.HTTPException as exc:
            if exc.status < 400:
                raise
            if vendor:
                return self.error_response(request, ApiError(exc.status, exc.reason))
            return web.json_response({"error": exc.reason}, status=exc.status)
        except Exception:
            log.exception("%s: %s %s failed", self.name, request.method, request.path)
            if vendor:
                return self.error_response(request, ApiError(500, "Internal Server Error"))
            return web.json_response({"error": "Internal Server Error"}, status=500)

    async def hang(self) -> None:
        """Hold a request ``hang_seconds`` (until shutdown at the latest)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._closing.wait(), timeout=self.settings.hang_seconds)

    # -- common control plane handlers --

    def emit(
        self,
        event_type: str,
        event_id: str,
        payload: Json,
        schedule: Sequence[float],
        *,
        url: str | None = None,
        content_type: str = "application/json",
        exhausted: str = "parked",
        headers: Callable[[Delivery], Mapping[str, str]] | None = None,
        on_exhausted: Callable[[Delivery], None] | None = None,
    ) -> list[Delivery]:
        """Send an outbound event to ``url`` (default: the configured webhook URL)."""
        return self.webhooks.send(
            url=url if url is not None else self.settings.webhook_url,
            event_id=event_id,
            event_type=event_type,
            payload=payload,
            schedule=schedule,
            content_type=content_type,
            exhausted=exhausted,
            headers=headers,
            on_exhausted=on_exhausted,
        )

    async def sim_health(self, request: web.Request) -> web.Response:
        return web.json_response({"simulator": self.name, "ok": True})

    async def sim_reset(self, request: web.Request) -> web.Response:
        spec = await json_body(request, default={})
        keep = spec.get("counters") is False
        self.webhooks.reset()
        self.faults.clear()
        self.requests = RequestLog()
        self.ids.reset(counters=not keep)
        self.reset_state()
        return web.json_response({"reset": True, "epoch": self.ids.epoch})

    async def sim_get_config(self, request: web.Request) -> web.Response:
        return web.json_response(dataclasses.asdict(self.settings))

    async def sim_put_config(self, request: web.Request) -> web.Response:
        spec = await json_body(request)
        current = dataclasses.asdict(self.settings)
        for key, value in spec.items():
            if key not in current or key in ("host", "port"):
                raise ApiError(400, f"unknown or read-only setting {key!r}")
            setattr(self.settings, key, _coerce_setting(key, current[key], value))
        self.settings_changed()
        return web.json_response(dataclasses.asdict(self.settings))

    def settings_changed(self) -> None:
        """Hook: settings changed through ``PUT /_sim/config``."""

    async def sim_add_fault(self, request: web.Request) -> web.Response:
        spec = await json_body(request)
        try:
            fault = self.faults.add(spec)
        except ValueError as exc:
            raise ApiError(400, str(exc)) from exc
        return web.json_response(dataclasses.asdict(fault), status=201)

    async def sim_list_faults(self, request: web.Request) -> web.Response:
        return web.json_response({"faults": self.faults.as_json()})

    async def sim_clear_faults(self, request: web.Request) -> web.Response:
        self.faults.clear()
        return web.json_response({"faults": []})

    async def sim_list_requests(self, request: web.Request) -> web.Response:
        q = request.query
        entries = self.requests.select(q.get("method", ""), q.get("path", ""), q.get("path_prefix", ""))
        return web.json_response(
            {"count": len(entries), "requests": [dataclasses.asdict(e) for e in entries]}
        )

    async def sim_clear_requests(self, request: web.Request) -> web.Response:
        self.requests = RequestLog()
        return web.json_response({"count": 0, "requests": []})

    async def sim_list_deliveries(self, request: web.Request) -> web.Response:
        q = request.query
        found = [
            d.as_json()
            for d in self.webhooks.deliveries
            if q.get("state", d.state) == d.state
            and q.get("event_type", d.event_type) == d.event_type
            and q.get("event_id", d.event_id) == d.event_id
        ]
        return web.json_response({"count": len(found), "deliveries": found})

    async def sim_drain(self, request: web.Request) -> web.Response:
        spec = await json_body(request, default={})
        timeout = spec.get("timeout", 5.0)
        if not isinstance(timeout, int | float) or timeout < 0:
            raise ApiError(400, "timeout must be a non-negative number of seconds")
        settled = await self.webhooks.drain(float(timeout))
        return web.json_response({"settled": settled, "pending": self.webhooks.pending()})

    async def sim_list_parked(self, request: web.Request) -> web.Response:
        parked = [d.as_json() for d in self.webhooks.parked()]
        return web.json_response({"count": len(parked), "deliveries": parked})

    async def sim_replay_parked(self, request: web.Request) -> web.Response:
        spec = await json_body(request, default={})
        ids = spec.get("ids")
        if ids is not None and not (isinstance(ids, list) and all(isinstance(i, str) for i in ids)):
            raise ApiError(400, "ids must be a list of delivery ids")
        again = self.webhooks.replay(ids)
        return web.json_response({"count": len(again), "replayed": [d.id for d in again]})

    async def sim_holdings(self, request: web.Request) -> web.Response:
        return web.json_response(
            {"simulator": self.name, **self.holdings().as_json(request.query.get("ref"))}
        )


COMMON_CONTROL_ROUTES: Final = (
    Route("GET", "/_sim/health", "sim_health"),
    Route("POST", "/_sim/reset", "sim_reset"),
    Route("GET", "/_sim/config", "sim_get_config"),
    Route("PUT", "/_sim/config", "sim_put_config"),
    Route("POST", "/_sim/faults", "sim_add_fault"),
    Route("GET", "/_sim/faults", "sim_list_faults"),
    Route("DELETE", "/_sim/faults", "sim_clear_faults"),
    Route("GET", "/_sim/requests", "sim_list_requests"),
    Route("DELETE", "/_sim/requests", "sim_clear_requests"),
    Route("GET", "/_sim/deliveries", "sim_list_deliveries"),
    Route("POST", "/_sim/deliveries/drain", "sim_drain"),
    Route("GET", "/_sim/parked", "sim_list_parked"),
    Route("POST", "/_sim/parked/replay", "sim_replay_parked"),
    Route("GET", "/_sim/holdings", "sim_holdings"),
)


# --- small helpers -------------------------------------------------------------------


async def json_body(request: web.Request, default: dict[str, Any] | None = None) -> dict[str, Any]:
    """The request's JSON object, or ``default`` when the body is empty (else 400)."""
    raw = await request.read()
    if not raw.strip():
        if default is not None:
            return dict(default)
        raise ApiError(400, "a JSON object body is required")
    try:
        value = json.loads(raw)
    except ValueError as exc:
        raise ApiError(400, f"the body is not valid JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise ApiError(400, "the body must be a JSON object")
    return value


def corrupt(response: web.StreamResponse) -> web.Response:
    """The same status and headers with half the body: unparsable on purpose."""
    raw = response.body if isinstance(response, web.Response) else None
    data = raw if isinstance(raw, bytes) else b""
    broken = data[: len(data) // 2] if len(data) > 1 else b'{"'
    headers = {k: v for k, v in response.headers.items() if k.lower() != "content-length"}
    headers.setdefault("Content-Type", "application/json")
    status = 200 if response.status == 204 else response.status
    return web.Response(status=status, body=broken, headers=headers)


def _coerce_setting(key: str, old: Any, value: Any) -> Any:
    """A new value for a setting, of the setting's type (400 otherwise)."""
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if isinstance(old, bool):
        ok = isinstance(value, bool)
    elif isinstance(old, float):
        ok, value = number, float(value) if number else value
    elif isinstance(old, int):
        ok = isinstance(value, int) and not isinstance(value, bool)
    else:
        ok = value is None or isinstance(value, str)
    if not ok:
        raise ApiError(400, f"setting {key!r} must be like {old!r}")
    return value


def retry_after_header(seconds: float) -> str:
    """``Retry-After`` is whole seconds (RFC 9110): round up, at least 1 when non-zero."""
    return str(math.ceil(seconds)) if seconds > 0 else "0"


LIMITS: Mapping[str, Mapping[str, Any]] = {
    "port": {"ge": 0, "le": 65535},
    "time_scale": {"gt": 0},
    "hang_seconds": {"ge": 0},
    "delivery_timeout": {"gt": 0},
}
"""Bounds of the common settings: a value outside is a usage error, not a crash at bind."""


class SimulatorProcess(ProcessSettings):
    """A simulator process in the shell: its logging, and the vendor settings of its dataclass
    as flags and ``SIM_<P>_*`` variables (see :func:`process_settings`)."""

    def secrets(self) -> list[str]:
        """The vendor credentials it accepts: masked in its log lines like real ones."""
        values = self.model_dump().items()
        return [v for k, v in values if isinstance(v, str) and v and any(w in k for w in SECRET_WORDS)]


def process_settings(settings: type[S], name: str, default_port: int) -> type[SimulatorProcess]:
    """The process settings of a simulator: one field per field of its settings dataclass."""
    hints = get_type_hints(settings)
    fields: dict[str, Any] = {}
    for f in dataclasses.fields(settings):
        default = default_port if f.name == "port" else f.default
        fields[f.name] = (
            hints[f.name],
            Field(default, description=f.metadata.get("help"), **LIMITS.get(f.name, {})),
        )
    model = create_model(f"{settings.__name__}Process", __base__=SimulatorProcess, **fields)
    model.model_config["env_prefix"] = f"SIM_{name.upper()}_"
    model.process = f"sim-{name}"
    return model


def run(
    simulator: Callable[[S], Simulator],
    vendor: type[S],
    name: str,
    default_port: int,
    description: str,
    argv: Sequence[str] | None,
    prog: str | None = None,
) -> int:
    """``python -m simulators.<name>`` (and ``oms simulator <name>``): serve until stopped."""

    def start(settings: SimulatorProcess) -> None:
        serve(simulator(vendor(**{f.name: getattr(settings, f.name) for f in dataclasses.fields(vendor)})))

    command = with_settings(process_settings(vendor, name, default_port))(start)
    return run_command(command, prog or f"python -m simulators.{name}", description, argv)


def serve(sim: Simulator) -> None:
    """Run a simulator until interrupted (logging is the shell's, configured by the command):
    one log line per request at INFO; ``/metrics``, ``/health``, ``/ready`` beside the vendor
    routes and ``/_sim``."""
    settings = sim.settings
    app = sim.make_app()
    add_routes(app)
    READINESS.set(Check.SERVING, True, f"http://{settings.host}:{settings.port}")
    log.info("%s simulator on http://%s:%d", sim.name, settings.host, settings.port)
    web.run_app(
        app, host=settings.host, port=settings.port, print=None, access_log=None, shutdown_timeout=1.0
    )


def iso(dt: datetime) -> str:
    """ISO-8601 in UTC with a ``Z``."""
    return dt.astimezone(UTC).isoformat().replace("+00:00", "Z")


def ms_since_epoch(dt: datetime) -> int:
    return int(dt.timestamp() * 1000)
