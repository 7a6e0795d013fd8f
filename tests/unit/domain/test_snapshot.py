"""A provider request carries the order as an ``OrderSnapshot``: the fields a provider
needs, each line with the status it is in, and nothing of the writer's bookkeeping."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from given import create_order, given, line

from devkit.scenarios import journey1_orders
from streams.bootstrap import bootstrap
from streams.domain.commands import ProviderActionRequest
from streams.domain.decider import decide
from streams.domain.order import OrderState, evolve, order_of
from streams.domain.snapshot import LineSnapshot, OrderSnapshot
from streams.domain.transitions import DEFAULT_TRANSITIONS
from streams.domain.values import ActionType, ExternalRef, OrderStatus, Provider
from streams.settings import Settings

NOW = datetime(2026, 11, 28, 9, tzinfo=UTC)


def _state() -> OrderState:
    state = given(
        create_order(
            "o-1",
            [line("L1"), line("L2"), line("L3")],
            external_refs=(ExternalRef(system="bigcommerce", ref="118"),),
            attributes={"store": "eu"},
        )
    ).state
    assert state is not None
    l1, l2, l3 = state.lines
    return state.model_copy(
        update={
            "company": "USMF",
            "lines": (
                l1,
                l2.model_copy(
                    update={
                        "status": OrderStatus.ON_HOLD,
                        "status_reason": "Backorder hold",
                        "backordered_at": NOW,
                    }
                ),
                l3.model_copy(update={"preorder_until": date(2026, 12, 1), "synced": True}),
            ),
        }
    )


def _request(snapshot: OrderSnapshot | None, order_json: str = "") -> ProviderActionRequest:
    return ProviderActionRequest(
        action_id="a-1",
        order_id="o-1",
        provider=Provider.FNO,
        action=ActionType.SEND_TO_FULFILLMENT,
        step="send",
        attempt=1,
        not_before=NOW,
        deadline=NOW + timedelta(minutes=2),
        correlation_id="c",
        order=snapshot,
        order_json=order_json,
    )


def test_each_line_of_the_snapshot_says_its_status_the_headers_while_it_follows_it() -> None:
    snapshot = _state().snapshot()

    statuses = [(x.line_id, x.status, x.status_reason, x.parked) for x in snapshot.lines]
    assert statuses == [
        ("L1", OrderStatus.NEW, "Created", False),
        ("L2", OrderStatus.ON_HOLD, "Backorder hold", True),
        ("L3", OrderStatus.NEW, "Created", True),
    ]
    assert snapshot.lines[1].backordered and snapshot.lines[2].synced
    assert snapshot.lines[2].preorder_until == date(2026, 12, 1)


def test_the_snapshot_keeps_what_providers_read_of_the_header() -> None:
    state = _state()

    snapshot = state.snapshot()

    assert snapshot.external_ref("bigcommerce") == "118"
    assert (snapshot.company, snapshot.attributes, snapshot.ship_to) == (
        "USMF",
        {"store": "eu"},
        state.ship_to,
    )
    assert (snapshot.version, snapshot.status, snapshot.channel) == (
        state.version,
        state.status,
        "bigcommerce",
    )
    assert not {"pending_actions", "recent_commands", "steps"} & set(OrderSnapshot.model_fields)


def test_a_request_of_the_first_version_carries_the_state_as_json_and_reads_the_same() -> None:
    state = _state()

    today, first_version = _request(state.snapshot()), _request(None, order_json=state.model_dump_json())

    assert order_of(first_version) == order_of(today) == state.snapshot()


def _validated(state: OrderState) -> OrderSnapshot:
    """The snapshot as pydantic validates it from the state's dump: the reference."""
    line_fields = set(LineSnapshot.model_fields) - {"status", "status_reason", "backordered"}
    lines = tuple(
        LineSnapshot(
            **x.model_dump(include=line_fields),
            status=state.line_status(x),
            status_reason=state.line_status_reason(x),
            backordered=x.backordered,
        )
        for x in state.lines
    )
    return OrderSnapshot(**state.model_dump(include=set(OrderSnapshot.model_fields) - {"lines"}), lines=lines)


def test_the_assembled_snapshot_is_the_validated_one_at_every_step_of_a_journey() -> None:
    codec = bootstrap(Settings()).codec
    states = [_state()]
    for journey in journey1_orders(5):
        state: OrderState | None = None
        for command in journey:
            for event in decide(command, state, DEFAULT_TRANSITIONS):
                state = evolve(state, event)
                states.append(state)

    for state in states:
        fast, slow = state.snapshot(), _validated(state)
        assert fast == slow
        assert fast.__pydantic_fields_set__ == slow.__pydantic_fields_set__
        assert codec.encode(_request(fast)) == codec.encode(_request(slow))
        assert fast.attributes is not state.attributes
