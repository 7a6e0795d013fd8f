"""Sample orders and the command sequence of journey 1, for the demo, benchmarks and tests.

Journey 1 (scenarios.md): BigCommerce order -> header and lines validated -> company/site/warehouse
assigned -> sent to F&O for fulfillment -> picked -> packed and shipped -> status written
back to BigCommerce -> invoiced in F&O -> status written back again.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from streams.domain.commands import (
    AssignOrderData,
    Command,
    CommandEnvelope,
    CreateOrder,
    RecordChannelStatus,
    RecordInvoiced,
    RecordPicked,
    RecordSentToFulfillment,
    RecordShipped,
    RecordValidation,
)
from streams.domain.values import Address, ExternalRef, LineAssignment, OrderLine

_CITIES = [("Seattle", "WA", "98101"), ("Austin", "TX", "73301"), ("Denver", "CO", "80202")]
_SKUS = ["SKU-TSHIRT-M", "SKU-MUG-01", "SKU-CAP-RED", "SKU-BAG-XL", "SKU-SOCKS-3"]


class CommandFactory:
    """Builds commands with unique, reproducible ids and increasing issue times."""

    def __init__(
        self,
        source: str = "demo",
        start: datetime | None = None,
        step: timedelta = timedelta(milliseconds=250),
    ) -> None:
        self.source = source
        self._clock = start or datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
        self._step = step
        self._n = 0

    def envelope(self, order_id: str, correlation_id: str | None = None) -> CommandEnvelope:
        self._n += 1
        self._clock += self._step
        return CommandEnvelope(
            command_id=f"{self.source}-{order_id}-{self._n}",
            order_id=order_id,
            issued_at=self._clock,
            correlation_id=correlation_id or f"journey-{order_id}",
            source=self.source,
        )


def bigcommerce_order(factory: CommandFactory, order_id: str, bc_id: int, rng: random.Random) -> CreateOrder:
    city, state, postal = rng.choice(_CITIES)
    lines = tuple(
        OrderLine(
            line_id=str(i + 1),
            sku=sku,
            quantity=rng.randint(1, 4),
            unit_price=Decimal(rng.randint(500, 9900)) / 100,
        )
        for i, sku in enumerate(rng.sample(_SKUS, rng.randint(1, 3)))
    )
    return CreateOrder(
        envelope=factory.envelope(order_id),
        channel="bigcommerce",
        customer_id=f"BC-CUST-{rng.randint(1, 500):04d}",
        currency="USD",
        ship_to=Address(
            name="Jane Doe",
            line1="1 Main St",
            city=city,
            state=state,
            postal_code=postal,
            country="US",
        ),
        lines=lines,
        external_refs=(ExternalRef(system="bigcommerce", ref=str(bc_id)),),
    )


def journey1(factory: CommandFactory, created: CreateOrder) -> list[Command]:
    """The commands that carry one BigCommerce order through journey 1, in order."""
    oid = created.envelope.order_id
    env = factory.envelope
    return [
        created,
        RecordValidation(envelope=env(oid), policy="order-header-validation", passed=True),
        RecordValidation(envelope=env(oid), policy="order-line-validation", passed=True),
        AssignOrderData(
            envelope=env(oid),
            company="USMF",
            invoice_customer="US-001",
            lines=tuple(
                LineAssignment(line_id=line.line_id, site="1", warehouse="11") for line in created.lines
            ),
            policy="ecommerce-assignment",
        ),
        RecordSentToFulfillment(envelope=env(oid), provider="fno", provider_order_id=f"SO-{oid}"),
        RecordPicked(envelope=env(oid), provider="fno", picking_id=f"PL-{oid}"),
        RecordShipped(
            envelope=env(oid),
            provider="fno",
            shipment_id=f"PS-{oid}",
            carrier="UPS",
            tracking_number=f"1Z{oid}",
        ),
        RecordChannelStatus(envelope=env(oid), channel="bigcommerce", channel_status="2"),
        RecordInvoiced(envelope=env(oid), provider="fno", invoice_id=f"INV-{oid}"),
        RecordChannelStatus(envelope=env(oid), channel="bigcommerce", channel_status="10"),
    ]


JOURNEYS: dict[int, tuple[str, dict[str, str]]] = {
    1: ("bigcommerce", {"fulfillment": "fno"}),
    2: ("bigcommerce", {"fulfillment": "flexe"}),
    3: ("fno", {"fulfillment": "flexe", "billing": "fno"}),
    4: ("fno", {"fulfillment": "fno"}),
    5: ("fno", {"fulfillment": "flexe", "billing": "sap"}),
    6: ("bigcommerce", {"fulfillment": "dom"}),
}
"""Channel and attributes that make the shipped flow filters (flows/*.yaml) pick each journey."""


def journey_order(
    journey: int, factory: CommandFactory, order_id: str, rng: random.Random, ref: int = 1
) -> CreateOrder:
    """A new order that the flow of ``journey`` takes. F&O orders arrive by dual-write with
    their company, and a site and warehouse on every line, as F&O confirmed them."""
    channel, attributes = JOURNEYS[journey]
    order = bigcommerce_order(factory, order_id, ref, rng)
    if channel == "bigcommerce":
        return order.model_copy(update={"attributes": attributes})
    lines = tuple(line.model_copy(update={"site": "1", "warehouse": "11"}) for line in order.lines)
    return order.model_copy(
        update={
            "channel": "fno",
            "customer_id": "US-001",
            "company": "USMF",
            "invoice_customer": "US-001",
            "lines": lines,
            "external_refs": (ExternalRef(system="fno", ref=f"SO-{ref:06d}"),),
            "attributes": attributes,
        }
    )


def journey1_orders(
    count: int, seed: int = 7, prefix: str = "ORD", start: datetime | None = None
) -> Iterator[list[Command]]:
    """``count`` independent journey-1 command sequences (ten events per order)."""
    rng = random.Random(seed)
    factory = CommandFactory(start=start)
    for i in range(count):
        oid = f"{prefix}-{i + 1:06d}"
        yield journey1(factory, bigcommerce_order(factory, oid, 100 + i, rng))
