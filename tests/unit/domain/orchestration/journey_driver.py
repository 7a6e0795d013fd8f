"""An order journey run entirely in memory: the writer's ``process()`` on the shipped flow
files, and stand-in providers that answer every request at once and then play their
later part, as ``devkit/fake_providers.py`` does at the connector boundary (F&O picks, packs and
invoices what it fulfils; Flexe ships; a billing provider invoices).

Every command comes from one ``CommandFactory`` with a fixed start, so a run is
reproducible to the byte.
"""

from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from typing import Any

from timelines import statuses

from devkit.scenarios import CommandFactory, journey_order
from streams.adapters.config_files import load_order_handling, load_products
from streams.adapters.flow_files import load_flows
from streams.domain.commands import (
    Command,
    CreateOrder,
    RecordActionResult,
    RecordInvoiced,
    RecordPicked,
    RecordReturnReceived,
    RecordShipped,
)
from streams.domain.errors import DomainError
from streams.domain.events import Event, FlowStepRecorded, ProviderActionRequested
from streams.domain.flows import Flow, FlowCatalog
from streams.domain.orchestration import FlowEngine, Outcome, process
from streams.domain.order import OrderState
from streams.domain.order_handling import OrderHandling
from streams.domain.transitions import DEFAULT_TRANSITIONS, FULFILLMENT_IN_PROGRESS, TransitionTable
from streams.settings import REPO_ROOT

FLOWS_DIR = REPO_ROOT / "flows"
START = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)

NEW = ("New", "Created")
VALIDATED = ("In progress", "Validation succeeded")
SENT = ("In progress", "Sent to fulfillment")
PICKED = ("Fulfillment in progress", "Picked")
PACKED = ("Fulfillment in progress", "Packed")
DONE = ("Completed", "Done")
"""Journey 1 ends so, as the brief words it (its flow's ``status_reasons``)."""
FULFILLED = ("Completed", "Fulfilled")
"""Every other journey ends so (the global table)."""
HELD_INVALID = ("On hold", "Validation failed")
REPROCESSED = ("In progress", "Reprocessed")


@cache
def shipped_flows() -> tuple[Flow, ...]:
    """The six journeys as shipped in ``flows/``, published as version 1."""
    return tuple(f.model_copy(update={"version": 1}) for f in load_flows(FLOWS_DIR))


@cache
def shipped_handling() -> OrderHandling:
    """``config/order-handling.yaml`` as shipped (backorders on, 7-day SLA, standard replacements)."""
    return load_order_handling()


def shipped_engine(**changes: Any) -> FlowEngine:
    """The shipped flows and settings; ``changes`` alter the order-handling settings."""
    return FlowEngine(
        FlowCatalog(shipped_flows()), shipped_handling().model_copy(update=changes), load_products()
    )


def journey_6_engine(**dom_params: str) -> FlowEngine:
    """The shipped flows, with journey 6's order-handling settings (the params of its
    ``optimize-fulfillment`` step) changed, e.g. ``backorders="disabled"``."""
    flows = []
    for flow in shipped_flows():
        if flow.name == "bigcommerce-dom-fno":
            steps = tuple(
                s.model_copy(update={"params": {**s.params, **dom_params}})
                if s.id == "optimize-fulfillment"
                else s
                for s in flow.steps
            )
            flow = flow.model_copy(update={"steps": steps})
        flows.append(flow)
    return FlowEngine(FlowCatalog(flows), shipped_handling(), load_products())


@dataclass
class Providers:
    """Answers each provider request at once; ``failures[(provider, action)]`` attempts
    fail first (HTTP 503), ``silent`` actions are never answered, DOM finds no stock for
    ``unsourced_skus``."""

    failures: dict[tuple[str, str], int] = field(default_factory=dict)
    silent: frozenset[tuple[str, str]] = frozenset()
    later: frozenset[tuple[str, str]] = frozenset()
    """Actions answered at once but whose later reports (shipped, received...) never come."""
    unsourced_skus: frozenset[str] = frozenset()

    def answer(
        self, factory: CommandFactory, request: ProviderActionRequested, order: OrderState
    ) -> list[Command]:
        oid, key = order.order_id, (request.provider, request.action)
        if key in self.silent:
            return []
        if self.failures.get(key, 0) > 0:
            self.failures[key] -= 1
            return [self._result(factory, request, False, details="HTTP 503 Service Unavailable")]
        data = {"provider_order_id": f"{request.provider.upper()}-{oid}"}
        if request.action == "send_to_fulfillment_optimization":
            data = {
                f"warehouse.{line.line_id}": "11"
                for line in order.lines
                if line.sku not in self.unsourced_skus
            }
        if request.action == "update_channel_status":
            data = {"channel_status": request.params.get("status_id", "")}
        if request.action == "issue_credit_note":
            data = {"credit_note_id": f"CN-{oid}"}
        answered = self._result(factory, request, True, data=data)
        return [answered] if key in self.later else [answered, *self._later(factory, request, order)]

    @staticmethod
    def _result(
        factory: CommandFactory,
        request: ProviderActionRequested,
        success: bool,
        details: str = "",
        data: dict[str, str] | None = None,
    ) -> RecordActionResult:
        return RecordActionResult(
            envelope=factory.envelope(request.envelope.order_id),
            action_id=request.action_id,
            success=success,
            details=details,
            data=data or {},
        )

    @staticmethod
    def _later(factory: CommandFactory, request: ProviderActionRequested, order: OrderState) -> list[Command]:
        """What the provider reports afterwards, through its status handler or webhook."""
        p, oid = request.provider, order.order_id
        picked = RecordPicked(envelope=factory.envelope(oid), provider=p, picking_id=f"PL-{oid}")
        shipped = RecordShipped(
            envelope=factory.envelope(oid), provider=p, shipment_id=f"SH-{oid}", tracking_number=f"1Z{oid}"
        )
        invoiced = RecordInvoiced(envelope=factory.envelope(oid), provider=p, invoice_id=f"INV-{oid}")
        if (p, request.action) == ("fno", "send_to_fulfillment"):
            return [picked, shipped, invoiced]
        if (p, request.action) == ("flexe", "send_to_fulfillment"):
            return [shipped]
        if request.action == "send_to_billing":
            if p == "fno" and order.status != FULFILLMENT_IN_PROGRESS:
                return [picked, shipped, invoiced]  # journey 6: F&O fulfils the lines, then invoices
            return [invoiced]
        if request.action == "create_return":  # the warehouse receives the goods later
            rma = request.params["rma_id"]
            return [
                RecordReturnReceived(envelope=factory.envelope(oid), rma_id=rma, provider=p, warehouse="11")
            ]
        return []


@dataclass
class Journey:
    """One order, the writer's view of it, and the providers around it."""

    engine: FlowEngine = field(default_factory=shipped_engine)
    providers: Providers = field(default_factory=Providers)
    table: TransitionTable = DEFAULT_TRANSITIONS
    factory: CommandFactory = field(default_factory=lambda: CommandFactory(source="unit", start=START))
    state: OrderState | None = None
    events: list[Event] = field(default_factory=list)
    refused: list[tuple[Command, DomainError]] = field(default_factory=list)

    def order(self, journey: int, order_id: str = "ORD-1", seed: int = 7, **changes: Any) -> CreateOrder:
        """A new order that the shipped flow of ``journey`` takes (scenarios.journey_order)."""
        created = journey_order(journey, self.factory, order_id, random.Random(seed))
        return created.model_copy(update=changes)

    def process(self, command: Command) -> Outcome:
        """The writer deciding one command and its flow reactions, nobody answering yet."""
        outcome = process(command, self.state, self.engine, self.table)
        self.state = outcome.state
        self.events += outcome.events
        self.refused += outcome.refused
        return outcome

    def refused_to(self, command: Command) -> DomainError:
        """Asserts ``command`` itself is refused (nothing appended); returns why."""
        try:
            outcome = process(command, self.state, self.engine, self.table)
        except DomainError as exc:
            return exc
        raise AssertionError(
            f"{type(command).__name__} was accepted: {[type(e).__name__ for e in outcome.events]}"
        )

    def run(self, *commands: Command) -> OrderState:
        """Process ``commands`` and everything the providers answer, to quiescence."""
        queue: deque[Command] = deque(commands)
        while queue:
            outcome = self.process(queue.popleft())
            for event in outcome.events:
                if isinstance(event, ProviderActionRequested):
                    assert outcome.state is not None
                    queue.extend(self.providers.answer(self.factory, event, outcome.state))
        assert self.state is not None
        return self.state

    # -- what happened, in words -------------------------------------------------------------

    def statuses(self) -> list[tuple[str, str]]:
        return statuses(self.events)

    def actions(self) -> list[tuple[str, str, str]]:
        """The provider actions requested, in order: (provider, action, BigCommerce status id)."""
        return [(e.provider, e.action, e.params.get("status_id", "")) for e in self.requests()]

    def requests(self) -> list[ProviderActionRequested]:
        return [e for e in self.events if isinstance(e, ProviderActionRequested)]

    def step_results(self) -> list[tuple[str, str]]:
        return [(e.step, e.result) for e in self.events if isinstance(e, FlowStepRecorded)]

    def of(self, kind: type[Event]) -> list[Any]:
        return [e for e in self.events if isinstance(e, kind)]
