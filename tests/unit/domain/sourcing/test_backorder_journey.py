"""Journey 6 with real sourcing, in memory: one fulfillment order per source, warehouses
stamped, lines without inventory in Backorder hold, the backorder job releasing them
when stock arrives, and the cancellation SLA. Lines and header follow the status table;
the header moves when all its open lines agree."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from dom_stand_in import StockedProviders
from journey_driver import FULFILLED, NEW, PACKED, PICKED, VALIDATED, Journey, journey_6_engine

from streams.domain.backorders import BackorderSettings, parse_duration, past_sla, worth_rechecking
from streams.domain.commands import CancelOrderLines, CheckBackorders, HoldOrder, RecordPicked
from streams.domain.errors import DomainError
from streams.domain.events import (
    BackorderCheckStarted,
    FulfillmentOrderCreated,
    OrderLinesBackordered,
    OrderLinesReleased,
    OrderLinesStatusChanged,
)
from streams.domain.flows import Flow
from streams.domain.order import OrderState, fold
from streams.domain.transitions import BACKORDER_HOLD, CANCELED, COMPLETED, IN_PROGRESS, ON_HOLD
from streams.domain.values import OrderLine

ORDER = "ORD-6"
SLA = timedelta(days=7)


def _lines(*skus: str) -> tuple[OrderLine, ...]:
    return tuple(
        OrderLine(line_id=str(i), sku=sku, quantity=2, unit_price=Decimal("9.50"))
        for i, sku in enumerate(skus, 1)
    )


def _journey(stock: dict[tuple[str, str], int], **dom_params: str) -> Journey:
    engine = journey_6_engine(**dom_params) if dom_params else journey_6_engine()
    return Journey(engine=engine, providers=StockedProviders(stock=dict(stock)))


def _seattle_order(j: Journey, *skus: str) -> OrderState:
    created = j.order(6, ORDER)
    ship_to = created.ship_to.model_copy(update={"city": "Seattle", "postal_code": "98101"})
    return j.run(created.model_copy(update={"lines": _lines(*skus), "ship_to": ship_to}))


def _line(state: OrderState, line_id: str) -> tuple[str, str]:
    line = state.line(line_id)
    assert line is not None
    return state.line_status(line), state.line_status_reason(line)


def _check(j: Journey) -> OrderState:
    return j.run(CheckBackorders(envelope=j.factory.envelope(ORDER), job_run="run-1"))


def _fno_lines(j: Journey) -> list[str]:
    return [r.params["lines"] for r in j.requests() if r.provider == "fno"]


def test_dom_creates_one_fulfillment_order_per_source_and_stamps_each_line_s_warehouse() -> None:
    j = _journey({("TEE", "SEA-DC"): 5, ("MUG", "DEN-DC"): 5})

    state = _seattle_order(j, "TEE", "MUG")

    fos = j.of(FulfillmentOrderCreated)
    assert [(f.fulfillment_order_id, f.source, f.warehouse, [x.line_id for x in f.lines]) for f in fos] == [
        (f"{ORDER}-FO1", "SEA-DC", "11", ["1"]),
        (f"{ORDER}-FO2", "DEN-DC", "12", ["2"]),
    ]
    assert all(x.reservation_id for f in fos for x in f.lines)
    assert [(x.line_id, x.site, x.warehouse) for x in state.lines] == [("1", "1", "11"), ("2", "1", "12")]
    assert state.steps["optimize-fulfillment"].details.startswith("fully sourced by strategy closest")
    assert j.statuses() == [NEW, VALIDATED, PICKED, PACKED, FULFILLED]
    assert j.of(OrderLinesStatusChanged) == []  # no line ever moved on its own
    assert len(state.fulfillment_orders) == 2


def test_a_line_without_inventory_waits_in_backorder_hold_and_only_the_others_go_to_fno() -> None:
    j = _journey({("TEE", "SEA-DC"): 5})

    state = _seattle_order(j, "TEE", "BAG")

    (held,) = j.of(OrderLinesBackordered)
    assert [(c.line_id, c.status, c.status_reason) for c in held.lines] == [("2", ON_HOLD, BACKORDER_HOLD)]
    assert held.cancel_at == held.envelope.occurred_at + SLA
    assert _fno_lines(j) == ["1"]  # only the line with a shipping warehouse is synced
    assert state.line("2") is not None and state.line("2").warehouse is None  # type: ignore[union-attr]
    assert _line(state, "1") == FULFILLED
    assert _line(state, "2") == (ON_HOLD, BACKORDER_HOLD)
    # the lines disagree: the header has not moved since validation
    assert (state.status, state.status_reason) == VALIDATED


def test_the_backorder_job_releases_the_line_when_stock_arrives_and_it_goes_to_fno() -> None:
    j = _journey({("TEE", "SEA-DC"): 5})
    _seattle_order(j, "TEE", "BAG")
    assert isinstance(j.providers, StockedProviders)
    j.providers.stock[("BAG", "DEN-DC")] = 3  # a receipt

    state = _check(j)

    assert [e.line_ids for e in j.of(BackorderCheckStarted)] == [("2",)]
    (released,) = j.of(OrderLinesReleased)
    assert [(c.line_id, c.status, c.status_reason) for c in released.lines] == [
        ("2", IN_PROGRESS, "Backorder released")
    ]
    assert [f.fulfillment_order_id for f in j.of(FulfillmentOrderCreated)] == [f"{ORDER}-FO1", f"{ORDER}-FO2"]
    assert _fno_lines(j) == ["1", "2"]  # the released line alone is synced
    assert [(x.line_id, x.warehouse, x.parked) for x in state.lines] == [
        ("1", "11", False),
        ("2", "12", False),
    ]
    assert _line(state, "2") == FULFILLED
    assert (state.status, state.status_reason) == FULFILLED  # now all lines agree
    assert j.refused == []


def test_an_order_whose_every_line_is_backordered_is_on_hold_until_the_job_releases_it() -> None:
    j = _journey({})
    state = _seattle_order(j, "TEE", "MUG")

    assert (state.status, state.status_reason) == (ON_HOLD, BACKORDER_HOLD)
    assert _fno_lines(j) == []
    assert isinstance(j.providers, StockedProviders)
    j.providers.stock.update({("TEE", "SEA-DC"): 2, ("MUG", "SEA-DC"): 2})

    state = _check(j)

    assert (IN_PROGRESS, "Backorder released") in j.statuses()
    assert _fno_lines(j) == ["1,2"]
    assert (state.status, state.status_reason) == FULFILLED


def test_the_job_releases_what_arrived_and_the_rest_keeps_waiting() -> None:
    j = _journey({})
    _seattle_order(j, "TEE", "MUG")
    assert isinstance(j.providers, StockedProviders)
    j.providers.stock[("TEE", "DAL-DC")] = 2

    state = _check(j)

    assert _line(state, "1") == FULFILLED
    assert _line(state, "2") == (ON_HOLD, BACKORDER_HOLD)
    assert (state.status, state.status_reason) == (IN_PROGRESS, "Backorder released")


def test_a_line_held_past_the_cancellation_sla_is_canceled_and_the_header_follows_the_rest() -> None:
    j = _journey({("TEE", "SEA-DC"): 5}, cancellation_sla="2d")
    state = _seattle_order(j, "TEE", "BAG")
    (held,) = j.of(OrderLinesBackordered)
    assert held.cancel_at is not None

    assert past_sla(state, held.cancel_at - timedelta(seconds=1)) == []
    overdue = past_sla(state, held.cancel_at)
    assert [x.line_id for x in overdue] == ["2"]
    reason = "Backorder hold past its cancellation SLA (2d)"
    state = j.run(CancelOrderLines(envelope=j.factory.envelope(ORDER), line_ids=("2",), reason=reason))

    assert _line(state, "2") == (CANCELED, reason)
    assert state.line("2").parked is False  # type: ignore[union-attr]
    assert (state.status, state.status_reason) == FULFILLED  # the open line is done
    assert _check(j) == state  # nothing left to check


def test_when_every_line_is_canceled_the_order_is_canceled() -> None:
    j = _journey({})
    _seattle_order(j, "TEE")
    state = j.run(CancelOrderLines(envelope=j.factory.envelope(ORDER), line_ids=("1",), reason="SLA"))
    assert (state.status, state.status_reason) == (CANCELED, "SLA")


def test_without_backorders_an_unsourced_line_is_left_out_and_never_held() -> None:
    j = _journey({("TEE", "SEA-DC"): 5}, backorders="disabled")
    state = _seattle_order(j, "TEE", "BAG")
    assert j.of(OrderLinesBackordered) == []
    assert _fno_lines(j) == ["1"]
    assert (state.status, state.status_reason) == FULFILLED


def test_checking_does_nothing_without_held_lines_or_while_dom_is_already_on_them() -> None:
    j = _journey({("TEE", "SEA-DC"): 5})
    state = _seattle_order(j, "TEE")
    assert _check(j) == state

    j = _journey({})
    assert isinstance(j.providers, StockedProviders)
    j.providers.silent = frozenset({("dom", "send_to_fulfillment_optimization")})
    j.providers.stock[("TEE", "SEA-DC")] = 0
    j.providers.silent = frozenset()
    state = _seattle_order(j, "TEE")
    j.providers.silent = frozenset({("dom", "send_to_fulfillment_optimization")})
    waiting = _check(j)
    assert waiting.pending_actions and waiting.pending_actions[0].params["scope"] == "backorders"
    assert worth_rechecking(waiting, lambda sku, q: True) == []
    assert _check(j) == waiting


def test_an_operator_hold_keeps_the_backorder_job_away_and_holds_every_working_line() -> None:
    j = _journey({("TEE", "SEA-DC"): 5}, backorders="enabled")
    j.providers.silent = frozenset({("fno", "send_to_billing")})
    _seattle_order(j, "TEE", "BAG")

    state = j.run(HoldOrder(envelope=j.factory.envelope(ORDER), reason="customer called"))
    assert (state.status, state.status_reason) == (ON_HOLD, "customer called")
    assert _line(state, "1") == (ON_HOLD, "customer called")
    assert _line(state, "2") == (ON_HOLD, BACKORDER_HOLD)

    assert _check(j) == state  # no check is even recorded
    assert j.of(BackorderCheckStarted) == []


def test_a_pick_of_lines_the_provider_never_got_is_refused() -> None:
    j = _journey({})
    _seattle_order(j, "TEE")  # every line waits in Backorder hold: F&O was sent nothing
    with pytest.raises(DomainError, match=r"fno reports 'Order picked' for an order it never got"):
        j.process(RecordPicked(envelope=j.factory.envelope(ORDER), provider="fno"))


def test_replaying_the_events_gives_the_live_state() -> None:
    j = _journey({("TEE", "SEA-DC"): 5})
    _seattle_order(j, "TEE", "BAG")
    assert isinstance(j.providers, StockedProviders)
    j.providers.stock[("BAG", "SEA-DC")] = 2
    state = _check(j)
    assert fold(j.events) == state
    assert [e.envelope.seq for e in j.events] == list(range(1, len(j.events) + 1))
    assert len({e.envelope.event_id for e in j.events}) == len(j.events)


def test_the_order_handling_settings_are_checked_when_a_flow_is_loaded() -> None:
    step = {"id": "dom", "on": ["New order"], "action": "send_to_fulfillment_optimization", "provider": "dom"}
    with pytest.raises(ValueError, match="steps\\[0\\] \\(dom\\): params: 'soon' is not a duration"):
        Flow.model_validate({"name": "f", "steps": [{**step, "params": {"cancellation_sla": "soon"}}]})
    with pytest.raises(ValueError, match="backorders: 'maybe' is neither enabled nor disabled"):
        Flow.model_validate({"name": "f", "steps": [{**step, "params": {"backorders": "maybe"}}]})
    assert BackorderSettings.from_params(
        {"backorders": "Enabled", "cancellation_sla": "36h"}
    ) == BackorderSettings(enabled=True, cancellation_sla=timedelta(hours=36), sla_text="36h")
    assert parse_duration("1.5m") == timedelta(seconds=90)
    assert FULFILLED[0] == COMPLETED
