"""Available to promise: a sourced line is available today, an unsourced one on the first
day its scheduled receipts cover (within the 7-day period), and DOM's answer stamps both
dates on the order's lines."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from journey_driver import Journey, Providers, shipped_engine
from pydantic import ValidationError
from test_dom_sagas import NOW, Answers, MemoryInventory, _config, _request, _settle

from streams.domain.atp import AtpSettings, LinePromise, ScheduledReceipt, promise_sourced, promise_unsourced
from streams.domain.commands import RecordActionResult
from streams.domain.sourcing import Allocation, FulfillmentPlan
from streams.domain.values import OrderLine
from streams.services.dom import ReservationSagas

TODAY = date(2026, 11, 28)


def _receipt(source: str, quantity: int, days: int) -> ScheduledReceipt:
    return ScheduledReceipt(sku="TEE", source=source, quantity=quantity, in_days=days)


def test_a_sourced_line_is_available_today_and_ships_after_the_processing_days() -> None:
    promised = promise_sourced("1", TODAY, AtpSettings(processing_days=1))
    assert (promised.inventory_availability_date, promised.estimated_ship_date) == (
        TODAY,
        TODAY + timedelta(1),
    )


def test_an_unsourced_line_is_promised_for_the_first_day_one_source_covers_it() -> None:
    settings = AtpSettings(
        scheduled_receipts=(_receipt("NEAR", 1, 2), _receipt("FAR", 3, 4), _receipt("NEAR", 2, 5))
    )

    promised = promise_unsourced("1", "TEE", 3, {"NEAR": 0, "FAR": 0}, ["NEAR", "FAR"], TODAY, settings)

    assert promised is not None and promised.inventory_availability_date == TODAY + timedelta(4)


def test_units_on_hand_count_towards_the_promise_and_receipts_beyond_the_period_do_not() -> None:
    settings = AtpSettings(period_days=3, scheduled_receipts=(_receipt("NEAR", 1, 1), _receipt("NEAR", 5, 6)))

    soon = promise_unsourced("1", "TEE", 2, {"NEAR": 1}, ["NEAR"], TODAY, settings)
    never = promise_unsourced("1", "TEE", 4, {"NEAR": 1}, ["NEAR"], TODAY, settings)

    assert soon is not None and soon.inventory_availability_date == TODAY + timedelta(1)
    assert never is None


def test_the_period_is_seven_days_at_most_and_a_receipt_has_one_date() -> None:
    with pytest.raises(ValidationError):
        AtpSettings(period_days=8)
    with pytest.raises(ValidationError, match="give expected"):
        ScheduledReceipt(sku="TEE", source="NEAR", quantity=1, expected=TODAY, in_days=1)


def test_doms_plan_promises_every_line_it_was_asked_about() -> None:
    inventory, answers = MemoryInventory(("TEE", "NEAR", 2)), Answers()
    config = _config().model_copy(
        update={
            "atp": AtpSettings(
                scheduled_receipts=(ScheduledReceipt(sku="MUG", source="FAR", quantity=5, in_days=3),)
            )
        }
    )
    sagas = ReservationSagas(config, inventory, inventory, answers)

    sagas.start(_request("A", ("TEE", 2), ("MUG", 2), ("CAP", 1)))
    _settle(inventory, sagas)

    promised = {p.line_id: p.inventory_availability_date for p in answers["A"].promises}
    assert promised == {"1": NOW.date(), "2": NOW.date() + timedelta(3)}  # no date for the CAP


@pytest.mark.parametrize("form", ["record", "json"], ids=["plan record", "data['plan'] of older results"])
def test_doms_answer_stamps_the_dates_on_the_lines_sourced_or_waiting(form: str) -> None:
    j = Journey(
        engine=shipped_engine(),
        providers=Providers(silent=frozenset({("dom", "send_to_fulfillment_optimization")})),
    )
    created = j.order(6, "ORD-6")
    lines = tuple(
        OrderLine(line_id=str(i), sku=s, quantity=1, unit_price=Decimal("5"))
        for i, s in ((1, "TEE"), (2, "MUG"))
    )
    j.run(created.model_copy(update={"lines": lines}))
    (request,) = [r for r in j.requests() if r.provider == "dom"]
    soon = TODAY + timedelta(3)
    plan = FulfillmentPlan(
        order_id="ORD-6",
        strategy="closest",
        outcome="partially sourced",
        allocations=(
            Allocation(line_id="1", sku="TEE", source="SEA-DC", warehouse="11", site="1", quantity=1),
        ),
        unsourced=("2",),
        promises=(
            promise_sourced("1", TODAY, AtpSettings()),
            LinePromise(line_id="2", inventory_availability_date=soon, estimated_ship_date=soon),
        ),
    )

    state = j.run(
        RecordActionResult(
            envelope=j.factory.envelope("ORD-6"),
            action_id=request.action_id,
            success=True,
            **({"plan": plan} if form == "record" else {"data": {"plan": plan.model_dump_json()}}),
        )
    )

    dated = {
        x.line_id: (x.inventory_availability_date, x.estimated_ship_date, x.warehouse) for x in state.lines
    }
    assert dated == {"1": (TODAY, TODAY, "11"), "2": (soon, soon, None)}
