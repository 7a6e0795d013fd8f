"""Stand-in connectors for every provider: they answer each request at once and play the
provider's later part (F&O picks, packs and invoices; Flexe ships; SAP bills).

For stream-level tests, benchmarks and a demo without the HTTP simulators. They sit at
the connector boundary: they consume the provider request topics and publish commands,
exactly as the real connectors do, so the writer cannot tell the difference. The one
Kafka loop (batched, offsets committed after the answers are delivered, an undecodable
request dead-lettered), so that they never become the bottleneck of a measurement.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import ClassVar

from pydantic import Field, field_validator

from streams.adapters.avro import AvroCodec
from streams.adapters.kafka_loop import Batch, Commits, KafkaLoop, models
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
from streams.domain.order import order_of
from streams.domain.snapshot import OrderSnapshot
from streams.domain.transitions import FULFILLMENT_IN_PROGRESS
from streams.services.gc_pause import Survivors, gc_paused
from streams.settings import Settings
from streams.shell.commands import run_command, with_settings
from streams.shell.process import run_service
from streams.shell.settings import ServiceSettings

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
        group: str = "oms-fake-providers",
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
        self._survivors = Survivors()
        self.loop = KafkaLoop(
            settings,
            models(codec, ProviderActionRequest),
            group=topics.prefix + group,
            commits=Commits.AFTER_PRODUCE,
            dead_letters=topics.dead_letters,
            name=group,
        )

    def run(self, stop: threading.Event) -> None:
        self.loop.subscribe([self.topics.provider_requests(p) for p in self.providers])
        try:
            self.loop.run(self._answer_all, stop)
        finally:
            self.loop.close()

    def _answer_all(self, batch: Batch[ProviderActionRequest]) -> None:
        """Answer a batch; like the writer, collect only its young objects and freeze the
        rest (``Survivors``): ``requests`` keeps every request, and full collections
        walking them all were the stand-in hop's tail (p99 400-600 ms in bench.journeys)."""
        assert self.loop.publisher is not None
        send, encode = self.loop.publisher.send, self.codec.encode
        with gc_paused():
            for request in batch.records:
                self.requests.append(request)
                for command in self.answer(request):
                    send(self.topics.commands, command.envelope.order_id.encode(), encode(command))
            self._survivors.settle()

    def answer(self, request: ProviderActionRequest) -> Iterator[Command]:
        key = (request.provider, request.action)
        if key in self.silent:
            return
        if self.failures.get(key, 0) > 0:
            self.failures[key] -= 1
            yield self._result(request, False, details="HTTP 503 Service Unavailable (fake)")
            return
        order = order_of(request)
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

    def _provider_part(self, request: ProviderActionRequest, order: OrderSnapshot) -> Iterator[Command]:
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


class FakeProvidersSettings(ServiceSettings):
    """``python -m devkit.fake_providers``: every provider played at once."""

    process: ClassVar[str] = "fake-providers"
    default_metrics_port: ClassVar[int] = 9311

    fail: list[str] = Field(
        default_factory=list,
        description="PROVIDER:ACTION:N fails the first N attempts of an action "
        "(e.g. fno:send_to_fulfillment:2)",
    )
    without: list[str] = Field(
        default_factory=list,
        description="leave a provider to its real connector, e.g. --without dom (oms dom)",
    )

    @field_validator("fail")
    @classmethod
    def _failures(cls, specs: list[str]) -> list[str]:
        for spec in specs:
            provider, _, count = [*spec.split(":"), "", ""][:3]
            if provider not in PROVIDERS or not count.isdigit():
                raise ValueError(f"{spec!r} is not PROVIDER:ACTION:N (providers: {', '.join(PROVIDERS)})")
        return specs

    @property
    def failures(self) -> dict[tuple[str, str], int]:
        return {(p, a): int(n) for p, a, n in (spec.split(":") for spec in self.fail)}


def main(argv: list[str] | None = None) -> int:
    """``python -m devkit.fake_providers``: every provider played at once, for demos and benchmarks."""
    return run_command(
        _run,
        "python -m devkit.fake_providers",
        "Stand-in connectors for every provider: answer each action at once and play the "
        "provider's later part (F&O picks/packs/invoices, Flexe ships, SAP bills).",
        argv,
    )


@with_settings(FakeProvidersSettings)
def _run(settings: FakeProvidersSettings) -> int:
    from streams.bootstrap import bootstrap

    def work(stop: threading.Event) -> None:
        c = bootstrap(settings)
        played = tuple(p for p in PROVIDERS if p not in settings.without)
        fakes = FakeProviders(c.settings, c.topics, c.codec, failures=settings.failures, providers=played)
        log.info("fake providers (%s) answering on %s", ", ".join(played), c.settings.bootstrap_servers)
        fakes.run(stop)

    return run_service(settings, work, owns_state=False)


if __name__ == "__main__":
    raise SystemExit(main())
