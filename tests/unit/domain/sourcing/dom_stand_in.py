"""A DOM provider for in-memory journeys: it answers "send to fulfillment optimization"
with the real sourcing function over a stock table, and holds the units it promises
(as the inventory reservations would), so a second order cannot get them."""

from __future__ import annotations

from dataclasses import dataclass, field

from journey_driver import Providers

from devkit.scenarios import CommandFactory
from streams.domain.backorders import held_lines
from streams.domain.commands import Command, RecordActionResult
from streams.domain.events import ProviderActionRequested
from streams.domain.order import OrderState
from streams.domain.sourcing import (
    Constraints,
    DomConfig,
    GeoPoint,
    Source,
    SourcingLine,
    SourcingRequest,
    Strategy,
    source_order,
)
from streams.domain.transitions import CANCELED

DEMO_SOURCES = (
    Source(id="SEA-DC", location=GeoPoint(lat=47.61, lon=-122.33), warehouse="11", site="1"),
    Source(id="DEN-DC", location=GeoPoint(lat=39.74, lon=-104.99), warehouse="12", site="1"),
    Source(id="DAL-DC", location=GeoPoint(lat=32.78, lon=-96.80), warehouse="13", site="1"),
)
GEOCODES = {
    "US-98101": GeoPoint(lat=47.61, lon=-122.33),
    "US-73301": GeoPoint(lat=30.27, lon=-97.74),
    "US-80202": GeoPoint(lat=39.75, lon=-105.0),
}


def demo_config() -> DomConfig:
    return DomConfig(
        sources=DEMO_SOURCES,
        strategies=(Strategy(name="closest", constraints=Constraints(max_sources_per_line=1)),),
        default_strategy="closest",
        geocodes=GEOCODES,
    )


@dataclass
class StockedProviders(Providers):
    config: DomConfig = field(default_factory=demo_config)
    stock: dict[tuple[str, str], int] = field(default_factory=dict)
    """Units available per (sku, source); what DOM promises is taken out."""
    reserved: dict[str, int] = field(default_factory=dict)

    def answer(
        self, factory: CommandFactory, request: ProviderActionRequested, order: OrderState
    ) -> list[Command]:
        key = (request.provider, request.action)
        if (
            request.action != "send_to_fulfillment_optimization"
            or key in self.silent
            or self.failures.get(key)
        ):
            return super().answer(factory, request, order)
        if request.params.get("line_ids"):
            named = set(request.params["line_ids"].split(","))
            lines = [x for x in order.lines if x.line_id in named]
        elif request.params.get("scope") == "backorders":
            lines = held_lines(order)
        else:
            lines = [x for x in order.lines if not x.parked and order.line_status(x) != CANCELED]
        ask = SourcingRequest(
            order_id=order.order_id,
            ship_to=self.config.locate(order.ship_to, order.attributes),
            lines=tuple(SourcingLine(line_id=x.line_id, sku=x.sku, quantity=x.quantity) for x in lines),
            at=request.envelope.occurred_at,
        )
        plan = source_order(ask, self.config, self.stock)
        held = []
        for a in plan.allocations:
            reservation = f"{request.action_id}/{a.line_id}/{a.source}"
            self.stock[(a.sku, a.source)] -= a.quantity
            self.reserved[reservation] = a.quantity
            held.append(a.model_copy(update={"reservation_id": reservation}))
        plan = plan.model_copy(update={"allocations": tuple(held)})
        return [
            RecordActionResult(
                envelope=factory.envelope(order.order_id),
                action_id=request.action_id,
                success=True,
                details=plan.summary(),
                plan=plan,
            )
        ]
