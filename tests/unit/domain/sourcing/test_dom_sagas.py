"""The DOM coordinator's reservation sagas, without Kafka: an in-memory inventory decides
the reservations as the inventory writer would and replies in the order it decided."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sourcing_fixtures import HOME, source

from streams.domain.commands import ProviderActionRequest
from streams.domain.inventory import (
    InventoryCommand,
    InventoryEvent,
    InventoryState,
    ReserveInventory,
    SetOnHand,
    decide_inventory,
    evolve_inventory,
)
from streams.domain.order import LineState, OrderState
from streams.domain.sourcing import Constraints, DomConfig, FulfillmentPlan, Strategy
from streams.domain.values import Address
from streams.services.dom import ReservationSagas
from streams.services.inventory import InventoryView, inventory_envelope

NOW = datetime(2026, 11, 28, 15, 0, tzinfo=UTC)


class MemoryInventory(InventoryView):
    """The view and the feed in one: commands wait until ``deliver`` decides them."""

    def __init__(self, *stock: tuple[str, str, int]) -> None:  # no Kafka: InventoryView's state only
        self.levels = {}
        self._store = None
        self._fates = {}
        self._by_action = {}
        self.states: dict[str, InventoryState] = {}
        self.queue: list[InventoryCommand] = []
        for sku, src, units in stock:
            self.queue.append(
                SetOnHand(envelope=inventory_envelope(sku, src, "tests", issued_at=NOW), quantity=units)
            )
        self.deliver()

    def send(self, command: InventoryCommand) -> None:
        self.queue.append(command)

    def deliver(self) -> list[InventoryEvent]:
        events = []
        while self.queue:
            command = self.queue.pop(0)
            key = command.envelope.key
            for event in decide_inventory(command, self.states.get(key)):
                self.states[key] = evolve_inventory(self.states.get(key), event)
                self._fold(event)
                events.append(event)
        return events


def _config(**constraints: object) -> DomConfig:
    return DomConfig(
        sources=(source("NEAR", 100), source("FAR", 700)),
        strategies=(Strategy(name="closest", constraints=Constraints(**constraints)),),  # type: ignore[arg-type]
        default_strategy="closest",
    )


def _request(order_id: str, *lines: tuple[str, int], action: str | None = None) -> ProviderActionRequest:
    order = OrderState(
        order_id=order_id,
        version=5,
        status="In progress",
        status_reason="Validation succeeded",
        channel="bigcommerce",
        customer_id="c",
        currency="USD",
        ship_to=Address(name="n", line1="l", city="c", postal_code="0", country="US"),
        lines=tuple(
            LineState(line_id=str(i), sku=sku, quantity=q, unit_price=Decimal(1))
            for i, (sku, q) in enumerate(lines, 1)
        ),
        attributes={"ship_to_lat": str(HOME.lat), "ship_to_lon": str(HOME.lon)},
        created_by="x",
        created_at=NOW,
        updated_at=NOW,
    )
    return ProviderActionRequest(
        action_id=action or f"act-{order_id}",
        order_id=order_id,
        provider="dom",
        action="send_to_fulfillment_optimization",
        step="optimize-fulfillment",
        attempt=1,
        not_before=NOW,
        deadline=NOW + timedelta(minutes=2),
        correlation_id=order_id,
        order=order.snapshot(),
    )


class Answers(dict[str, FulfillmentPlan]):
    def __call__(self, request: ProviderActionRequest, plan: FulfillmentPlan) -> None:
        assert request.order_id not in self, "answered twice"
        self[request.order_id] = plan


def _coordinator(inventory: MemoryInventory, answers: Answers, **constraints: object) -> ReservationSagas:
    return ReservationSagas(_config(**constraints), inventory, inventory, answers)


def _settle(inventory: MemoryInventory, *coordinators: ReservationSagas) -> None:
    """Deliver commands and replies until nothing moves."""
    while events := inventory.deliver():
        for event in events:
            for coordinator in coordinators:
                coordinator.reply(event)


def _where(plan: FulfillmentPlan) -> list[tuple[str, str, int]]:
    return [(a.line_id, a.source, a.quantity) for a in plan.allocations]


def test_two_coordinators_race_for_the_closest_units_and_the_loser_reserves_elsewhere() -> None:
    inventory, answers = MemoryInventory(("TEE", "NEAR", 2), ("TEE", "FAR", 2)), Answers()
    one, two = _coordinator(inventory, answers), _coordinator(inventory, answers)

    one.start(_request("A", ("TEE", 2)))
    two.start(_request("B", ("TEE", 2)))  # both planned NEAR before either heard back
    _settle(inventory, one, two)

    assert _where(answers["A"]) == [("1", "NEAR", 2)]
    assert _where(answers["B"]) == [("1", "FAR", 2)]  # refused at NEAR, planned again
    assert two.stats.refused == 1 and two.stats.rounds == 2
    held = {rid for s in inventory.states.values() for rid in s.reservations}
    assert held == {a.reservation_id for plan in answers.values() for a in plan.allocations}
    assert one.running == {} and two.running == {}


def test_a_coordinator_plans_its_own_orders_against_what_it_already_asked_for() -> None:
    inventory, answers = MemoryInventory(("TEE", "NEAR", 2), ("TEE", "FAR", 2)), Answers()
    dom = _coordinator(inventory, answers)

    dom.start(_request("A", ("TEE", 2)))
    dom.start(_request("B", ("TEE", 2)))
    _settle(inventory, dom)

    assert (_where(answers["A"]), _where(answers["B"])) == ([("1", "NEAR", 2)], [("1", "FAR", 2)])
    assert dom.stats.refused == 0  # no round lost to its own tentative reservations


def test_when_stock_runs_out_the_order_is_told_not_sourced_and_nothing_stays_held() -> None:
    inventory, answers = MemoryInventory(("TEE", "NEAR", 1)), Answers()
    one, two = _coordinator(inventory, answers), _coordinator(inventory, answers)
    one.start(_request("A", ("TEE", 1)))
    two.start(_request("B", ("TEE", 1)))
    _settle(inventory, one, two)

    assert {o: p.outcome for o, p in answers.items()} == {"A": "fully sourced", "B": "not sourced"}
    assert inventory.states["TEE@NEAR"].reserved == 1


def test_restricted_partial_fulfillment_releases_what_was_held_when_a_line_is_lost() -> None:
    inventory, answers = MemoryInventory(("TEE", "NEAR", 1), ("MUG", "NEAR", 1)), Answers()
    rival, dom = _coordinator(inventory, answers), _coordinator(inventory, answers, restrict_partial=True)
    rival.start(_request("RIVAL", ("MUG", 1)))
    dom.start(_request("A", ("TEE", 1), ("MUG", 1)))
    _settle(inventory, rival, dom)

    assert answers["A"].outcome == "not sourced" and answers["A"].allocations == ()
    assert inventory.states["TEE@NEAR"].reserved == 0  # the tee went back
    assert inventory.states["MUG@NEAR"].reserved == 1  # the rival's


def test_a_restarted_coordinator_keeps_whole_lines_an_earlier_attempt_reserved() -> None:
    inventory, answers = MemoryInventory(("TEE", "NEAR", 5), ("MUG", "NEAR", 5)), Answers()
    earlier = [
        ReserveInventory(
            envelope=inventory_envelope(sku, "NEAR", "dom", issued_at=NOW),
            reservation_id=f"act-A/{line}/NEAR/{q}/0",
            order_id="A",
            line_id=line,
            quantity=q,
            requested_by="act-A",
        )
        for sku, line, q in (("TEE", "1", 2), ("MUG", "2", 1))  # line 2 wants 3: only part of it
    ]
    for command in earlier:
        inventory.send(command)
    inventory.deliver()

    dom = _coordinator(inventory, answers)
    dom.start(_request("A", ("TEE", 2), ("MUG", 3)))
    _settle(inventory, dom)

    plan = answers["A"]
    assert _where(plan) == [("1", "NEAR", 2), ("2", "NEAR", 3)]
    assert plan.allocations[0].reservation_id == "act-A/1/NEAR/2/0"  # kept as it was
    assert plan.allocations[1].reservation_id == "act-A/2/NEAR/3/1"  # a new round's id
    assert inventory.states["MUG@NEAR"].reserved == 3  # the part was released
    assert set(inventory.states["MUG@NEAR"].reservations) == {"act-A/2/NEAR/3/1"}


def test_a_grant_that_comes_after_the_answer_is_released() -> None:
    inventory, answers = MemoryInventory(("TEE", "NEAR", 5)), Answers()
    dom = _coordinator(inventory, answers)
    dom.start(_request("A", ("TEE", 1)))
    dom.expire(NOW + timedelta(minutes=5))  # gives up before any reply: answers with nothing
    assert answers["A"].outcome == "not sourced"

    _settle(inventory, dom)  # the grant arrives, for nobody

    assert inventory.states["TEE@NEAR"].reserved == 0
    assert dom.stats.released == 1
