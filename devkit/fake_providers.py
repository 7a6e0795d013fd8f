"""Stand-in connectors for every provider: they answer each request at once and play the
provider's later part (F&O picks, packs and invoices; Flexe ships; SAP bills).

For stream-level tests, benchmarks and a demo without the HTTP simulators. They sit at
the connector boundary: they consume the provider request topics and publish commands,
exactly as the real connectors do, so the writer cannot tell the difference. A batched
confluent-kafka loop, so that they never become the bottleneck of a measurement.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from datetime import UTC, datetime

from confluent_kafka import Consumer, Producer

from streams.adapters.avro import AvroCodec
from streams.adapters.kafka import consumer_config, producer_config, value_of
from streams.adapters.topics import PROVIDERS, TopicRegistry
from streams.domain.commands import (
    Command,
    CommandEnvelope,
    ProviderActionRequest,
    RecordActionResult,
    RecordInvoiced,
    RecordPicked,
    RecordReturnReceived,
    RecordShipped,
)
from streams.domain.order import OrderState
from streams.domain.transitions import FULFILLMENT_IN_PROGRESS
from streams.settings import Settings

log = logging.getLogger(__name__)


class FakeProviders:
    """``failures`` maps (provider, action) to how many attempts fail first (HTTP 503)."""

    def __init__(
        self,
        settings: Settings,
        topics: TopicRegistry,
        codec: AvroCodec,
        failures: dict[tuple[str, str], int] | None = None,
        unsourced_skus: frozenset[str] = frozenset(),
        silent: frozenset[tuple[str, str]] = frozenset(),
        providers: tuple[str, ...] = PROVIDERS,
    ) -> None:
        self.topics = topics
        self.codec = codec
        self.failures = dict(failures or {})
        self.unsourced_skus = unsourced_skus
        self.silent = silent
        """Actions that never get an answer (a provider that hangs): the writer times them out."""
        self.providers = providers
        """The providers played; leave one out when its real connector runs (e.g. ``dom``)."""
        self.requests: list[ProviderActionRequest] = []
        self._consumer = Consumer(consumer_config(settings, topics.prefix + "oms-fake-providers"))
        self._producer = Producer(producer_config(settings))

    def run(self, stop: threading.Event) -> None:
        self._consumer.subscribe([self.topics.provider_requests(p) for p in self.providers])
        try:
            while not stop.is_set():
                msgs = [m for m in self._consumer.consume(1000, 0.1) if m.error() is None]
                for msg in msgs:
                    request = self.codec.decode(value_of(msg))
                    if isinstance(request, ProviderActionRequest):
                        self.requests.append(request)
                        for command in self.answer(request):
                            self._producer.produce(
                                self.topics.commands,
                                key=command.envelope.order_id.encode(),
                                value=self.codec.encode(command),
                            )
                if msgs:
                    self._producer.flush(10)
                    self._consumer.commit(asynchronous=False)
        finally:
            self._consumer.close()
            self._producer.flush(10)

    def answer(self, request: ProviderActionRequest) -> Iterator[Command]:
        key = (request.provider, request.action)
        if key in self.silent:
            return
        if self.failures.get(key, 0) > 0:
            self.failures[key] -= 1
            yield self._result(request, False, details="HTTP 503 Service Unavailable (fake)")
            return
        order = OrderState.model_validate_json(request.order_json)
        data: dict[str, str] = {"provider_order_id": f"{request.provider.upper()}-{request.order_id}"}
        if request.action == "send_to_fulfillment_optimization":
            data = {
                f"warehouse.{line.line_id}": "11"
                for line in order.lines
                if line.sku not in self.unsourced_skus
            }
        if request.action == "update_channel_status":
            data = {"channel_status": request.params.get("status_id", "")}
        if request.action == "issue_credit_note":
            data = {"credit_note_id": f"CN-{request.order_id}-{request.params.get('rma_id', '')}"}
        yield self._result(request, True, data=data)
        yield from self._provider_part(request, order)

    def _provider_part(self, request: ProviderActionRequest, order: OrderState) -> Iterator[Command]:
        """What the provider reports later, through its status handler or webhook."""
        p, oid = request.provider, request.order_id
        fulfil = [
            RecordPicked(envelope=self._env(request, "picked"), provider=p, picking_id=f"PL-{oid}"),
            RecordShipped(
                envelope=self._env(request, "shipped"),
                provider=p,
                shipment_id=f"SH-{oid}",
                carrier="UPS",
                tracking_number=f"1Z{abs(hash(oid)) % 10**10:010d}",
            ),
        ]
        invoice = RecordInvoiced(envelope=self._env(request, "invoiced"), provider=p, invoice_id=f"INV-{oid}")
        if (p, request.action) == ("fno", "send_to_fulfillment"):
            yield from (*fulfil, invoice)
        elif (p, request.action) == ("flexe", "send_to_fulfillment"):
            yield fulfil[1]
        elif request.action == "send_to_billing":
            if p == "fno" and order.status != FULFILLMENT_IN_PROGRESS:
                yield from fulfil  # journey 6: F&O fulfils the lines it was sent, then invoices
            yield invoice
        elif request.action == "create_return":  # the warehouse receives the goods
            rma = request.params.get("rma_id", "")
            yield RecordReturnReceived(
                envelope=self._env(request, "received"), rma_id=rma, provider=p, warehouse="11"
            )

    def _result(
        self,
        request: ProviderActionRequest,
        success: bool,
        details: str = "",
        data: dict[str, str] | None = None,
    ) -> RecordActionResult:
        return request.answer(
            source=f"fake:{request.provider}",
            success=success,
            issued_at=datetime.now(UTC),
            details=details,
            data=data,
        )

    @staticmethod
    def _env(request: ProviderActionRequest, what: str) -> CommandEnvelope:
        return CommandEnvelope(
            command_id=f"fake/{request.action_id}/{what}",
            order_id=request.order_id,
            issued_at=datetime.now(UTC),
            correlation_id=request.correlation_id,
            source=f"fake:{request.provider}",
        )


def main(argv: list[str] | None = None) -> int:
    """``python -m devkit.fake_providers``: every provider played at once, for demos and benchmarks."""
    import argparse
    import signal

    from streams.bootstrap import bootstrap

    parser = argparse.ArgumentParser(
        prog="python -m devkit.fake_providers",
        description="Stand-in connectors for every provider: answer each action at once and "
        "play the provider's later part (F&O picks/packs/invoices, Flexe ships, SAP bills).",
    )
    parser.add_argument(
        "--fail",
        action="append",
        default=[],
        metavar="PROVIDER:ACTION:N",
        help="fail the first N attempts of an action, e.g. fno:send_to_fulfillment:2",
    )
    parser.add_argument(
        "--without",
        action="append",
        default=[],
        choices=PROVIDERS,
        metavar="PROVIDER",
        help="leave a provider to its real connector, e.g. --without dom (oms dom)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level="INFO", format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    failures = {}
    for spec in args.fail:
        provider, action, count = spec.split(":")
        failures[(provider, action)] = int(count)
    c = bootstrap()
    played = tuple(p for p in PROVIDERS if p not in args.without)
    fakes = FakeProviders(c.settings, c.topics, c.codec, failures=failures, providers=played)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    log.info("fake providers (%s) answering on %s", ", ".join(played), c.settings.bootstrap_servers)
    fakes.run(stop)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
