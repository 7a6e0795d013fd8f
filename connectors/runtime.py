"""A connector process: a Faust worker whose agent performs the provider's actions, and the
connector's webhook server, in one process per provider.

- **The agent** consumes ``provider.<p>.requests`` only, in the connector's own consumer
  group, on the default aiokafka transport. Values are raw bytes, decoded and encoded with
  the project's Avro codec. Actions of one order run one after another (a status
  write-back must never overtake an earlier one); different orders run side by side, up
  to ``--in-flight`` at once, so one order waiting for its retry backoff or a slow
  provider does not hold up the others. Acks are manual: an offset is committed only once
  every earlier request of its partition has been answered; a partition whose last
  offsets are transaction markers is committed past them once caught up
  (``markers.TrailingMarkers``), so the group's lag reads 0 when there is nothing to do.
- **The webhook server** is a plain aiohttp application (see ``webhooks.make_web_app``),
  registered with ``App.web_server``: Faust starts it after the consumer is up and stops
  it with the worker. Not Faust's own ``faust.web`` views: those would serve Faust's
  internal endpoints on the port providers call, and a plain aiohttp app is what the unit
  tests drive with aiohttp's TestClient, without Kafka.
- **Commands** go to ``order.commands`` through Faust's producer, keyed by order id
  (aiokafka's default partitioner is Kafka's murmur2, like every other producer here).
  A webhook is acknowledged only after Kafka has the command.

Faust reads ``read_uncommitted`` unless it runs exactly-once: a request from a writer
transaction that later aborts can be seen. That is harmless here: the writer re-decides
the same command into the same action id, and every action is idempotent at the provider.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, cast

import faust
from aiohttp import web
from faust.transport.drivers import aiokafka as faust_aiokafka
from mode import Service

from connectors.actions import ProviderConnector, Publisher, answer
from connectors.config import RuntimeConfig
from connectors.markers import CHECK_EVERY, TrailingMarkers
from connectors.state import ConnectorStore
from connectors.webhooks import make_web_app
from streams.adapters.avro import AvroCodec, UndecodableRecord
from streams.adapters.kafka import replication
from streams.bootstrap import bootstrap
from streams.domain.commands import Command, ProviderActionRequest
from streams.shell.health import READINESS, Check, add_routes
from streams.shell.logging import order_context
from streams.shell.metrics import count_webhook
from streams.shell.process import BrokerWatch, Stopper, start_up

log = logging.getLogger(__name__)

Work = Callable[[], Awaitable[None]]


class OrderLanes:
    """Work for one key (an order) runs in submission order; keys run concurrently, at most
    ``limit`` pieces of work in flight overall (``submit`` waits for a free slot)."""

    def __init__(self, limit: int) -> None:
        self._slots = asyncio.Semaphore(limit)
        self._tails: dict[str, asyncio.Task[None]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    async def submit(self, key: str, work: Work) -> None:
        await self._slots.acquire()
        previous = self._tails.get(key)
        task = asyncio.get_running_loop().create_task(self._run(key, previous, work))
        self._tails[key] = task
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, key: str, previous: asyncio.Task[None] | None, work: Work) -> None:
        try:
            if previous is not None:
                await asyncio.wait([previous])
            await work()
        except Exception:
            log.exception("work for %s failed", key)
        finally:
            self._slots.release()
            if self._tails.get(key) is asyncio.current_task():
                del self._tails[key]

    async def drain(self) -> None:
        if self._tasks:
            await asyncio.wait(set(self._tasks))


class FaustPublisher:
    """Publishes commands through the Faust app's producer and waits until Kafka has them."""

    def __init__(self, topic: faust.types.TopicT, codec: AvroCodec) -> None:
        self._topic = topic
        self._codec = codec

    async def publish(self, command: Command) -> None:
        pending = await self._topic.send(
            key=command.envelope.order_id.encode(), value=self._codec.encode(command)
        )
        await pending


class ConnectorWebServer(Service):
    """The webhook server and the connector's own background work, in Faust's lifecycle."""

    def __init__(
        self, connector: ProviderConnector, config: RuntimeConfig, lanes: OrderLanes, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.connector = connector
        self.config = config
        self.lanes = lanes
        self._runner: web.AppRunner | None = None

    @property
    def web_url(self) -> str:
        return f"http://{self.config.listen_host}:{self.config.listen_port}"

    async def on_start(self) -> None:
        app = make_web_app(self.config.provider, self.connector.routes(), self.config.max_body_bytes)
        app.middlewares.append(_webhook_counter(self.config.provider))
        add_routes(app, health=False)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.config.listen_host, self.config.listen_port).start()
        await self.connector.start()
        READINESS.set(Check.SERVING, True, self.web_url)
        log.info("%s connector: webhooks on %s", self.config.provider, self.web_url)

    async def on_stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        try:  # actions under way get to publish their answers (unanswered ones are redelivered)
            await asyncio.wait_for(self.lanes.drain(), timeout=10)
        except TimeoutError:
            log.warning("%s connector: stopped with actions still under way", self.config.provider)
        await self.connector.close()


def _webhook_counter(provider: str) -> Any:
    """``oms_webhooks_total``: every request under ``/webhooks/``, by how it was answered."""

    @web.middleware
    async def count(request: web.Request, handler: Any) -> web.StreamResponse:
        if not request.path.startswith("/webhooks/"):
            return cast(web.StreamResponse, await handler(request))
        try:
            response = cast(web.StreamResponse, await handler(request))
        except web.HTTPException as answered:
            count_webhook(provider, answered.status)
            raise
        except Exception:
            count_webhook(provider, 500)
            raise
        count_webhook(provider, response.status)
        return response

    return count


def run(config: RuntimeConfig, make: Callable[[Publisher, ConnectorStore], ProviderConnector]) -> int:
    """Run one connector until SIGTERM or Ctrl-C; returns the exit code. Until the broker
    answers, ``/health`` and ``/ready`` (false) answer on the webhook port."""
    READINESS.require(Check.BROKER, Check.SERVING)
    waiting = Stopper().install()
    health_at = (config.listen_host, config.listen_port)
    if start_up(config.settings, waiting.stop, health_at=health_at, owns_state=False) is None:
        return 0
    with BrokerWatch(config.settings).running():
        return _serve(config, make)


FETCH_MAX_WAIT_MS = 50
"""How long the broker may hold a connector's fetch when it has nothing new (aiokafka's
``fetch_max_wait_ms``; Faust hard-codes 1,500). It bounds a request's wait, not just an
idle poll: aiokafka keeps one fetch in flight per broker, and leaves out of it every
partition whose last records the agent had not taken yet when it was sent, so a request
that lands on such a partition waits for the fetch in flight to come back, up to this
long. Measured on an idle consumer of 6 partitions (bench/notes-latency.md): 1,500 ms cost
0.3% of a core, 50 ms 1.7%, 20 ms 3.6%; four connectors run, so 50."""


class _PromptConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    def _create_worker_consumer(self, transport: Any) -> Any:
        consumer = super()._create_worker_consumer(transport)
        # aiokafka hands it to its Fetcher in start(), which Faust calls after this.
        consumer._fetch_max_wait_ms = FETCH_MAX_WAIT_MS
        return consumer


class _PromptConsumer(faust_aiokafka.Consumer):
    def _new_consumer_thread(self) -> _PromptConsumerThread:
        return _PromptConsumerThread(self, loop=self.loop, beacon=self.beacon)


class _PromptTransport(faust_aiokafka.Transport):
    Consumer = _PromptConsumer


class ConnectorApp(faust.App):
    """A Faust app whose consumer fetches with ``FETCH_MAX_WAIT_MS`` (faust-streaming has no
    setting for it; the version is pinned, like the internals ``markers.py`` reads)."""

    def _new_transport(self) -> Any:
        return _PromptTransport(self.conf.broker_consumer, self)


def _faust_app(config: RuntimeConfig) -> faust.App:
    """The connector's Faust app: its group, static membership, raw bytes on the wire."""
    config.state_dir.mkdir(parents=True, exist_ok=True)
    return ConnectorApp(
        config.group_id,
        broker=f"kafka://{config.settings.bootstrap_servers}",
        store="memory://",
        datadir=str(config.state_dir / "faust"),
        web_enabled=True,  # serves ConnectorWebServer; Faust's own web views stay off
        topic_partitions=config.settings.partitions,
        consumer_auto_offset_reset="earliest",
        consumer_group_instance_id=config.instance_id,
        broker_session_timeout=30.0,
        key_serializer="raw",
        value_serializer="raw",
        producer_acks=-1,
        # A webhook is answered once Kafka has its command: send at once, never linger.
        producer_linger=0.0,
        # Faust's own topics (its leader topic) are replicated like ours: a lost broker
        # must not take a connector's group down with it.
        topic_replication_factor=replication(config.settings).factor,
    )


def _raw_topic(app: faust.App, name: str) -> faust.TopicT:
    """A topic of raw bytes: our codec, not Faust's, reads and writes its records."""
    return app.topic(name, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw")


def _action_agent(
    codec: AvroCodec, connector: ProviderConnector, publisher: Publisher, lanes: OrderLanes
) -> Callable[[faust.StreamT[bytes]], Awaitable[None]]:
    """The agent over the request topic: each request answered in its order's lane, its
    offset acknowledged once answered; a record that is no request is logged and skipped."""

    async def act(stream: faust.StreamT[bytes]) -> None:
        assert isinstance(stream, faust.Stream)
        manual = stream.noack()
        async for event in manual.events():
            try:
                request = codec.decode(event.value)
            except UndecodableRecord as exc:
                log.error("skipped an undecodable request at offset %s: %s", event.message.offset, exc)
                await manual.ack(event)
                continue
            if not isinstance(request, ProviderActionRequest):
                log.error("skipped a %s on the request topic", type(request).__name__)
                await manual.ack(event)
                continue

            async def work(
                request: ProviderActionRequest = request, event: faust.EventT[bytes] = event
            ) -> None:
                try:
                    with order_context(partition=event.message.partition, offset=event.message.offset):
                        await answer(connector, request, publisher)
                finally:
                    await manual.ack(event)

            await lanes.submit(request.order_id, work)

    return act


def _serve(config: RuntimeConfig, make: Callable[[Publisher, ConnectorStore], ProviderConnector]) -> int:
    components = bootstrap(config.settings)
    codec = components.codec
    topics = components.topics
    app = _faust_app(config)
    requests = _raw_topic(app, topics.provider_requests(config.provider))
    commands = _raw_topic(app, topics.commands)
    store = ConnectorStore(config.state_dir / "store")
    publisher = FaustPublisher(commands, codec)
    connector = make(publisher, store)
    lanes = OrderLanes(config.in_flight)
    act = _action_agent(codec, connector, publisher, lanes)
    app.agent(requests, name=f"{config.provider}-actions")(act)
    markers = TrailingMarkers(config.settings, topics.provider_requests(config.provider))

    async def commit_past_markers() -> None:
        await markers.check(app.consumer)

    app.timer(CHECK_EVERY, name=f"{config.provider}-markers")(commit_past_markers)
    app.web_server(ConnectorWebServer(connector, config, lanes))
    worker = faust.Worker(
        app, loglevel=config.log_level, quiet=True, redirect_stdouts=False, override_logging=False
    )
    try:
        worker.execute_from_commandline()
    except SystemExit as exit_:
        return exit_.code if isinstance(exit_.code, int) else 0
    finally:
        markers.close()
        store.close()
    return 0
