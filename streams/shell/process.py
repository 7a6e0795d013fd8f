"""What a process does around its work: stop on a signal within 5 s, find the broker or
say clearly that it cannot, own its state folder, and report readiness.

- :func:`check_broker` answers within its timeout (10 s at most): the cluster's id, or
  :class:`BrokerUnreachable` naming the address and what to check. One-shot commands
  call it first and exit non-zero on failure; long-running processes call
  :func:`wait_for_broker`, which keeps trying with one warning per interval while
  ``/ready`` says the broker is away.
- :class:`Stopper` turns SIGTERM and SIGINT into a ``threading.Event`` the loops watch;
  if the process is still there ``grace`` seconds later (a loop stuck in a call), it
  ends it, so a stop never takes longer than that.
- :func:`kafka_hooks` are the ``logger`` and ``error_cb`` a confluent-kafka client gets:
  librdkafka's lines go through the rate-limited logging, and a transport error turns
  the ``broker`` check false until the broker answers again.
"""

from __future__ import annotations

import faulthandler
import logging
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import FrameType
from typing import Any

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient

from streams.shell.health import READINESS, Check, HealthServer, Readiness
from streams.shell.settings import ServiceSettings, Settings
from streams.shell.state import StateIdentity, claim_state

log = logging.getLogger(__name__)

BROKER_TIMEOUT = 5.0
"""Seconds a command waits for the broker before it gives up (so it says so within 10 s)."""
STOP_GRACE = 4.5
"""Seconds between SIGTERM and the forced end of a process whose loops did not stop."""


class BrokerUnreachable(Exception):
    """The broker did not answer: the message says where we looked and what to check."""


def unreachable_message(servers: str, timeout: float, detail: str = "") -> str:
    why = f" ({detail})" if detail else ""
    return (
        f"cannot reach the Kafka broker at {servers} within {timeout:.0f} s{why}.\n"
        "Is it running? `oms broker status` tells for the local broker (`oms broker start` starts it).\n"
        "Otherwise check KAFKA_BOOTSTRAP_SERVERS or --bootstrap-servers."
    )


def kafka_hooks(readiness: Readiness = READINESS) -> dict[str, Any]:
    """``logger`` and ``error_cb`` for a confluent-kafka client's configuration."""

    def on_error(error: KafkaError) -> None:
        if error.code() in (KafkaError._ALL_BROKERS_DOWN, KafkaError._TRANSPORT):
            readiness.set(Check.BROKER, False, error.str())
        logging.getLogger("librdkafka").warning("%s", error.str())

    return {"logger": logging.getLogger("librdkafka"), "error_cb": on_error}


@dataclass(frozen=True)
class Cluster:
    """What the broker said when it answered."""

    cluster_id: str
    topics: frozenset[str]


def check_broker(settings: Settings, timeout: float = BROKER_TIMEOUT) -> Cluster:
    """The cluster's id and topics, once the broker answers within ``timeout`` seconds."""
    failures: list[str] = []

    def on_error(error: KafkaError) -> None:
        failures.append(error.str())

    config: dict[str, Any] = {
        "bootstrap.servers": settings.bootstrap_servers,
        "logger": logging.getLogger("librdkafka"),
        "error_cb": on_error,
        "log_level": 3,  # librdkafka's own errors only; the answer here says the rest
    }
    client = AdminClient(config)
    try:
        metadata = client.list_topics(timeout=timeout)
    except KafkaException as exc:
        error = exc.args[0]
        detail = failures[-1] if failures else error.str() if isinstance(error, KafkaError) else str(error)
        raise BrokerUnreachable(unreachable_message(settings.bootstrap_servers, timeout, detail)) from None
    return Cluster(str(metadata.cluster_id), frozenset(metadata.topics))


def wait_for_broker(
    settings: Settings,
    stop: threading.Event,
    readiness: Readiness = READINESS,
    interval: float = 30.0,
    timeout: float = BROKER_TIMEOUT,
) -> str | None:
    """The cluster id once the broker answers; ``None`` if stopped first. One warning per
    ``interval`` while it does not. The checks run beside the caller, which keeps watching
    ``stop``: a signal is never held up by a check under way."""
    last_warning = -interval
    while not stop.is_set():
        answer: list[Cluster | BrokerUnreachable] = []
        asking = threading.Thread(
            target=_ask, args=(settings, timeout, answer), name="broker-check", daemon=True
        )
        asking.start()
        while asking.is_alive():
            if stop.wait(0.1):
                return None
        if answer and isinstance(answer[0], Cluster):
            cluster = answer[0].cluster_id
            readiness.set(Check.BROKER, True, f"cluster {cluster} at {settings.bootstrap_servers}")
            return cluster
        readiness.set(Check.BROKER, False, f"{settings.bootstrap_servers} does not answer")
        if time.monotonic() - last_warning >= interval:
            log.warning(
                "%s Trying again until it answers.", answer[0] if answer else "the broker check failed."
            )
            last_warning = time.monotonic()
        stop.wait(1.0)
    return None


def _ask(settings: Settings, timeout: float, answer: list[Cluster | BrokerUnreachable]) -> None:
    try:
        answer.append(check_broker(settings, timeout))
    except BrokerUnreachable as exc:
        answer.append(exc)


class BrokerWatch:
    """While a process runs, whether its broker still answers: ``/ready``'s broker check,
    and one warning per ``warn_every`` seconds while it does not."""

    def __init__(
        self,
        settings: Settings,
        readiness: Readiness = READINESS,
        every: float = 10.0,
        warn_every: float = 30.0,
        timeout: float = BROKER_TIMEOUT,
    ) -> None:
        self.settings = settings
        self.timeout = timeout
        self.checks = 0
        """How many checks have been made (each one a metadata request)."""
        self.readiness = readiness
        self.every = every
        self.warn_every = warn_every
        self._stop = threading.Event()

    @contextmanager
    def running(self) -> Iterator[BrokerWatch]:
        thread = threading.Thread(target=self._watch, name="broker-watch", daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            thread.join(self.timeout + 1)

    def _watch(self) -> None:
        last_warning = -self.warn_every
        while not self._stop.wait(self.every):
            try:
                cluster = check_broker(self.settings, self.timeout)
            except BrokerUnreachable as exc:
                self.checks += 1
                self.readiness.set(Check.BROKER, False, f"{self.settings.bootstrap_servers} does not answer")
                if time.monotonic() - last_warning >= self.warn_every:
                    log.warning("%s The process keeps trying.", exc)
                    last_warning = time.monotonic()
                continue
            self.readiness.set(
                Check.BROKER, True, f"cluster {cluster.cluster_id} at {self.settings.bootstrap_servers}"
            )


class Stopper:
    """SIGTERM/SIGINT set :attr:`stop` and run the ``on_stop`` callbacks; the process ends by
    itself ``grace`` seconds later at the latest (a second signal ends it at once)."""

    def __init__(self, grace: float = STOP_GRACE) -> None:
        self.stop = threading.Event()
        self.grace = grace
        self._callbacks: list[Callable[[], None]] = []

    def install(self) -> Stopper:
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, self._signalled)
        # `kill -USR1 <pid>` prints every thread's stack on stderr: what a process that
        # looks stuck is doing, without stopping it.
        faulthandler.register(signal.SIGUSR1, all_threads=True)
        return self

    def on_stop(self, callback: Callable[[], None]) -> None:
        """E.g. wake an event loop: ``lambda: loop.call_soon_threadsafe(done.set)``."""
        self._callbacks.append(callback)

    def _signalled(self, signum: int, frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if self.stop.is_set():
            self._force(f"second {name}")
        self.request(name)

    def request(self, why: str) -> None:
        """Stop: the loops see :attr:`stop`; the watchdog ends the process after ``grace``."""
        if self.stop.is_set():
            return
        log.info("%s: stopping", why)
        self.stop.set()
        for callback in self._callbacks:
            callback()
        threading.Thread(target=self._watchdog, name="stop-watchdog", daemon=True).start()

    def _watchdog(self) -> None:
        time.sleep(self.grace)
        self._force(f"still running {self.grace:.1f}s after the stop signal")

    @staticmethod
    def _force(why: str) -> None:
        log.error("%s: ending the process now", why)
        logging.shutdown()
        os._exit(1)


def start_up(
    settings: Settings,
    stop: threading.Event,
    *,
    health_at: tuple[str, int] | None = None,
    owns_state: bool = True,
) -> str | None:
    """Wait for the broker, then claim the state folder; the cluster id (``None``: stopped
    first). With ``health_at``, ``/health`` and ``/ready`` answer there meanwhile (for a
    process whose own server needs the broker before it can start)."""
    server = HealthServer(*health_at).start() if health_at is not None else None
    try:
        cluster = wait_for_broker(settings, stop)
    finally:
        if server is not None:
            server.close()
    if cluster is not None and owns_state:
        owner = StateIdentity(cluster, settings.topic_prefix)
        claim_state(settings.state_dir, owner, rebuild=settings.state_rebuild)
    return cluster


class PortTaken(Exception):
    """The ``/metrics`` port asked for is held by another process."""


def _health_server(settings: ServiceSettings) -> HealthServer:
    """On the kind's default port, or any free one when another process of the kind has it."""
    try:
        return HealthServer(settings.metrics_host, settings.health_port)
    except OSError as exc:
        if settings.metrics_port is not None:
            raise PortTaken(
                f"cannot serve /metrics on {settings.metrics_host}:{settings.metrics_port} "
                f"({exc.strerror}): another process has it. Pick another port with "
                "--metrics-port (OMS_METRICS_PORT), or leave it unset to take a free one"
            ) from exc
        log.warning(
            "port %d is taken (%s); serving /metrics on a free port", settings.health_port, exc.strerror
        )
        return HealthServer(settings.metrics_host, 0)


def run_service(
    settings: ServiceSettings,
    body: Callable[[threading.Event], None],
    *,
    checks: tuple[Check, ...] = (Check.BROKER,),
    owns_state: bool = True,
) -> int:
    """A threaded service's life: ``/metrics`` ``/health`` ``/ready``, the broker (waited
    for), the state folder (claimed), then ``body(stop)`` until SIGTERM or SIGINT."""
    stopper = Stopper().install()
    READINESS.require(*checks)
    server = _health_server(settings).start()
    log.info(
        "%s %s: /metrics, /health, /ready on http://%s:%d",
        settings.process,
        settings.instance_id,
        settings.metrics_host,
        server.port,
    )
    try:
        if start_up(settings, stopper.stop, owns_state=owns_state) is not None:
            with BrokerWatch(settings).running():
                body(stopper.stop)
    finally:
        server.close()
    return 0
