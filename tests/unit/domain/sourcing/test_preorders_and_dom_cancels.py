"""Journey 6 with preorders and cancels: a preorder line waits in Preorder hold while the
rest ships; from its launch date the backorder job's check sources it (or, with no stock,
puts it in Backorder hold); a canceled line's reservations are DOM's to release; the
order-handling settings reach DOM's request, a flow step's own params win."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

from dom_stand_in import StockedProviders
from journey_driver import Journey, journey_6_engine, shipped_engine

from streams.domain.commands import CancelOrderLines, CheckBackorders
from streams.domain.events import BackorderCheckStarted, OrderLinesPreordered
from streams.domain.order import OrderState
from streams.domain.transitions import BACKORDER_HOLD, CANCELED, ON_HOLD, PREORDER_HOLD
from streams.domain.values import OrderLine
from streams.services.backorders import decide_run

ORDER = "ORD-6"
PREORDER = "SKU-CONSOLE-X"  # config/products.yaml: launches 2030-01-15
LAUNCH = datetime(2030, 1, 15, 8, 0, tzinfo=UTC)


def _order(j: Journey, *skus: str) -> OrderState:
    created = j.order(6, ORDER)
    ship_to = created.ship_to.model_copy(update={"city": "Seattle", "postal_code": "98101"})
    lines = tuple(
        OrderLine(line_id=str(i), sku=sku, quantity=1, unit_price=Decimal("499.00"))
        for i, sku in enumerate(skus, 1)
    )
    return j.run(created.model_copy(update={"lines": lines, "ship_to": ship_to}))


def _line(state: OrderState, line_id: str) -> tuple[str, str]:
    line = state.line(line_id)
    assert line is not None
    return state.line_status(line), state.line_status_reason(line)


def _check_at(j: Journey, at: datetime) -> OrderState:
    env = j.factory.envelope(ORDER).model_copy(update={"issued_at": at})
    return j.run(CheckBackorders(envelope=env, job_run="launch"))


def _journey(stock: dict[tuple[str, str], int]) -> Journey:
    return Journey(engine=shipped_engine(), providers=StockedProviders(stock=dict(stock)))


def test_a_preorder_line_waits_for_its_launch_while_the_rest_goes_to_fno() -> None:
    j = _journey({("TEE", "SEA-DC"): 5, (PREORDER, "SEA-DC"): 5})

    state = _order(j, "TEE", PREORDER)

    assert _line(state, "2") == (ON_HOLD, PREORDER_HOLD)
    line = state.line("2")
    assert line is not None and line.preorder_until == date(2030, 1, 15)
    assert [e.launches[0].line_id for e in j.of(OrderLinesPreordered)] == ["2"]
    assert [r.params["lines"] for r in j.requests() if r.provider == "fno"] == ["1"]
    dom = next(r for r in j.requests() if r.provider == "dom")
    assert dom.params["line_ids"] == "1"  # DOM is not asked for the preorder


def test_before_the_launch_the_job_check_leaves_the_preorder_alone() -> None:
    j = _journey({("TEE", "SEA-DC"): 5, (PREORDER, "SEA-DC"): 5})
    _order(j, "TEE", PREORDER)

    state = _check_at(j, datetime(2030, 1, 14, 23, 0, tzinfo=UTC))

    assert _line(state, "2") == (ON_HOLD, PREORDER_HOLD)
    assert j.of(BackorderCheckStarted) == []


def test_from_the_launch_date_the_preorder_is_sourced_released_and_synced() -> None:
    j = _journey({("TEE", "SEA-DC"): 5, (PREORDER, "SEA-DC"): 5})
    _order(j, "TEE", PREORDER)

    state = _check_at(j, LAUNCH)

    assert [e.line_ids for e in j.of(BackorderCheckStarted)] == [("2",)]
    assert [r.params["lines"] for r in j.requests() if r.provider == "fno"] == ["1", "2"]
    assert state.status == "Completed"


def test_a_launched_preorder_with_no_stock_moves_to_backorder_hold() -> None:
    j = _journey({("TEE", "SEA-DC"): 5})
    _order(j, "TEE", PREORDER)

    state = _check_at(j, LAUNCH)

    assert _line(state, "2") == (ON_HOLD, BACKORDER_HOLD)
    line = state.line("2")
    assert line is not None and line.backordered and line.preorder_until is None
    assert line.backorder_cancel_at is not None  # the order-handling SLA applies from now


def test_an_order_of_only_preorders_is_on_preorder_hold_and_dom_is_not_asked() -> None:
    j = _journey({(PREORDER, "SEA-DC"): 5})

    state = _order(j, PREORDER)

    assert (state.status, state.status_reason) == (ON_HOLD, PREORDER_HOLD)
    assert state.steps["optimize-fulfillment"].result == "skipped"
    assert not [r for r in j.requests() if r.provider == "dom"]


def test_canceling_a_sourced_line_asks_dom_to_release_its_reservation_and_fno_to_drop_it() -> None:
    stock = {("TEE", "SEA-DC"): 5, ("MUG", "SEA-DC"): 5}
    synced_not_picked = frozenset({("fno", "send_to_billing")})
    j = Journey(engine=shipped_engine(), providers=StockedProviders(stock=stock, later=synced_not_picked))
    _order(j, "TEE", "MUG")

    state = j.run(
        CancelOrderLines(envelope=j.factory.envelope(ORDER), line_ids=("1",), reason="customer request")
    )

    assert _line(state, "1")[0] == CANCELED and state.status != CANCELED
    told = [
        (r.provider, r.action, r.params["line_ids"]) for r in j.requests() if r.action.startswith("cancel_")
    ]
    assert told == [
        ("bigcommerce", "cancel_lines", "1"),
        ("dom", "cancel_lines", "1"),
        ("fno", "cancel_lines", "1"),
    ]


def test_a_backordered_line_canceled_past_its_sla_needs_no_provider_but_the_channel() -> None:
    j = _journey({("TEE", "SEA-DC"): 5})
    state = _order(j, "TEE", "MUG")  # no MUG anywhere: Backorder hold
    assert _line(state, "2") == (ON_HOLD, BACKORDER_HOLD)

    state = j.run(CancelOrderLines(envelope=j.factory.envelope(ORDER), line_ids=("2",), reason="past SLA"))

    assert _line(state, "2")[0] == CANCELED
    told = [(r.provider, r.action) for r in j.requests() if r.action.startswith("cancel_")]
    assert told == [("bigcommerce", "cancel_lines")]  # never synced to F&O, never reserved


def test_the_order_handling_settings_reach_doms_request_and_a_steps_own_params_win() -> None:
    j = _journey({("TEE", "SEA-DC"): 5})
    _order(j, "TEE")
    dom = next(r for r in j.requests() if r.provider == "dom")
    assert (dom.params["backorders"], dom.params["cancellation_sla"]) == ("enabled", "604800s")

    j2 = Journey(
        engine=journey_6_engine(backorders="disabled"),
        providers=StockedProviders(stock={("TEE", "SEA-DC"): 5}),
    )
    _order(j2, "TEE")
    assert next(r for r in j2.requests() if r.provider == "dom").params["backorders"] == "disabled"


def test_the_backorder_job_sends_a_launched_preorder_to_dom_stock_or_not_and_leaves_an_early_one() -> None:
    j = _journey({("TEE", "SEA-DC"): 5})
    state = _order(j, "TEE", PREORDER)

    early, *_ = decide_run([state], lambda sku, n: False, datetime(2030, 1, 14, tzinfo=UTC), "run-0")
    launched, rechecked, _, held, waiting = decide_run([state], lambda sku, n: False, LAUNCH, "run-1")

    assert early == []
    assert [type(c).__name__ for c in launched] == ["CheckBackorders"]
    assert (rechecked, held, waiting) == ([f"{ORDER}: 2"], 1, 0)
