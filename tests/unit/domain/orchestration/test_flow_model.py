"""The flow model: what a flow may say, which flow an order starts in, and when an order
is ready to be exported to F&O."""

from __future__ import annotations

from typing import Any

import pytest
from given import SHIP_TO, cmd, create_order, given, line
from pydantic import ValidationError

from streams.domain.commands import AssignOrderData
from streams.domain.flows import Flow, FlowCatalog, readiness
from streams.domain.order import OrderState
from streams.domain.transitions import COMPLETED, DEFAULT_TRANSITIONS, FULFILLMENT_IN_PROGRESS
from streams.domain.values import LineAssignment, OrderLine

HEADER = {
    "name": "header",
    "scope": "header",
    "rules": [{"require": {"field": "customer_id", "op": "has_data"}, "message": "m"}],
}
LINES = {
    "name": "lines",
    "scope": "lines",
    "rules": [{"require": {"field": "quantity", "op": "gt", "value": 0}, "message": "m"}],
}
ASSIGN = {"name": "assign", "header": [{"set": {"company": "USMF"}}]}
POLICIES = {"header": HEADER, "lines": LINES, "assign": ASSIGN}


def validate_step(step_id: str = "validate", on: str = "New order", **extra: Any) -> dict[str, Any]:
    return {"id": step_id, "on": [on], "action": "validate_header", "policy": "header", **extra}


def send_step(step_id: str = "send", on: str = "New order", **extra: Any) -> dict[str, Any]:
    return {"id": step_id, "on": [on], "action": "send_to_fulfillment", "provider": "flexe", **extra}


def flow(*steps: dict[str, Any], **extra: Any) -> Flow:
    return Flow.model_validate({"name": "f", "policies": POLICIES, "steps": steps, **extra})


# -- what a flow may say ------------------------------------------------------------------------


def test_a_well_formed_flow_chains_steps_by_their_results() -> None:
    f = flow(validate_step(), send_step(on="validate succeeded"), send_step("notify", on="send failed"))

    assert [s.id for s in f.steps_on("validate succeeded")] == ["send"]
    assert [s.id for s in f.steps_on("send failed")] == ["notify"]
    assert f.step("send").max_attempts == 4  # three retries by default
    assert f.step("validate").internal and not f.step("send").internal
    assert f.version == 0  # a draft until published


def test_step_ids_must_be_unique() -> None:
    with pytest.raises(ValidationError, match=r"step ids must be unique; repeated: \['send'\]"):
        flow(validate_step(), send_step(), send_step(on="validate succeeded"))


@pytest.mark.parametrize(
    ("step", "message"),
    [
        (
            validate_step(policy=None),
            r"steps\[0\] \(validate\): 'validate_header' needs a policy; "
            r"known: \['assign', 'header', 'lines'\]",
        ),
        (validate_step(policy="no-such-policy"), "'validate_header' needs a policy"),
        (validate_step(policy="assign"), "policy 'assign' is not a ValidationPolicy"),
        (validate_step(policy="lines"), "policy 'lines' validates lines, not the header"),
        (validate_step(action="validate_lines"), "policy 'header' validates the header, not lines"),
        (validate_step(action="assign_data"), "policy 'header' is not a AssignmentPolicy"),
    ],
)
def test_an_internal_step_needs_a_policy_of_its_kind(step: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        flow(step)


@pytest.mark.parametrize(
    "action",
    [
        "send_to_fulfillment",
        "send_to_billing",
        "send_to_fulfillment_optimization",
        "update_channel_status",
        "custom",
    ],
)
def test_a_provider_action_needs_a_provider(action: str) -> None:
    with pytest.raises(
        ValidationError, match=rf"steps\[1\] \(x\): '{action}' is a provider action and needs a provider"
    ):
        flow(validate_step(), {"id": "x", "on": ["New order"], "action": action})


def test_an_input_event_must_name_a_step_of_the_flow() -> None:
    with pytest.raises(
        ValidationError, match=r"steps\[1\] \(send\): input event 'validate-header succeeded' names no step"
    ):
        flow(validate_step(), send_step(on="validate-header succeeded"))
    with pytest.raises(ValidationError, match="input event 'ghost failed' names no step"):
        flow(validate_step(), send_step(on="ghost failed"))


def test_business_events_are_input_events_too() -> None:
    f = flow(
        validate_step(), send_step(on="Order validation succeeded"), send_step("bill", on="Order shipped")
    )
    assert [s.id for s in f.steps_on("Order validation succeeded")] == ["send"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"id": "Send To Flexe"}, "should match pattern"),
        ({"on": []}, "at least 1 item"),
        ({"action": "teleport"}, "Input should be 'validate_header'"),
        ({"max_retries": -1}, "greater than or equal to 0"),
        ({"timeout_seconds": 0}, "greater than 0"),
        ({"retries": 3}, "Extra inputs are not permitted"),
    ],
)
def test_a_step_says_what_a_step_may_say(change: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        flow({**send_step(), **change})


def test_a_flow_needs_a_step_and_a_proper_name() -> None:
    with pytest.raises(ValidationError, match="at least 1 item"):
        Flow(name="empty", steps=())
    with pytest.raises(ValidationError, match="should match pattern"):
        flow(send_step(), name="My Flow")


# -- which flow an order starts in -----------------------------------------------------------------


def order(channel: str = "bigcommerce", country: str = "US", **attributes: str) -> OrderState:
    created = create_order(
        "o-1", channel=channel, ship_to=SHIP_TO.model_copy(update={"country": country}), attributes=attributes
    )
    state = given(created).state
    assert state is not None
    return state


def published(name: str, version: int = 1, priority: int = 0, filter: Any = None) -> Flow:
    return Flow.model_validate(
        {"name": name, "version": version, "priority": priority, "filter": filter, "steps": [send_step()]}
    )


BIGCOMMERCE = {"field": "channel", "op": "eq", "value": "bigcommerce"}
US = {"field": "ship_to.country", "op": "eq", "value": "US"}


def test_the_highest_priority_flow_whose_filter_takes_the_order_is_chosen() -> None:
    catalog = FlowCatalog(
        [
            published("everything", priority=0),
            published("bigcommerce", priority=10, filter=BIGCOMMERCE),
            published("bigcommerce-us", priority=20, filter={"all": [BIGCOMMERCE, US]}),
        ]
    )

    assert catalog.select(order("bigcommerce", "US")).name == "bigcommerce-us"  # type: ignore[union-attr]
    assert catalog.select(order("bigcommerce", "CA")).name == "bigcommerce"  # type: ignore[union-attr]
    assert catalog.select(order("fno", "US")).name == "everything"  # type: ignore[union-attr]


def test_no_flow_takes_the_order() -> None:
    catalog = FlowCatalog([published("bigcommerce", filter=BIGCOMMERCE)])
    assert catalog.select(order("amazon")) is None
    assert FlowCatalog().select(order()) is None


def test_the_newest_version_of_the_chosen_flow_runs() -> None:
    catalog = FlowCatalog(
        [published("j1", 1, priority=5), published("j1", 3, priority=5), published("j1", 2, priority=5)]
    )

    chosen = catalog.select(order())

    assert chosen is not None and (chosen.name, chosen.version) == ("j1", 3)
    assert catalog.get("j1", 2) is not None and catalog.get("j1", 4) is None
    assert len(catalog) == 3


def test_an_older_version_is_not_chosen_when_the_newest_no_longer_takes_the_order() -> None:
    catalog = FlowCatalog(
        [
            published("j1", 1, priority=5),
            published("j1", 2, priority=5, filter=BIGCOMMERCE),
            published("other"),
        ]
    )
    chosen = catalog.select(order("fno"))
    assert chosen is not None and chosen.name == "other"


def test_the_priority_of_the_newest_version_counts() -> None:
    catalog = FlowCatalog(
        [published("a", 1, priority=50), published("a", 2, priority=0), published("b", 1, priority=10)]
    )
    chosen = catalog.select(order())
    assert chosen is not None and chosen.name == "b"


def test_flows_of_equal_priority_are_chosen_by_name() -> None:
    catalog = FlowCatalog([published("zulu"), published("alpha")])
    assert [f.name for f in catalog.latest()] == ["alpha", "zulu"]


def test_a_draft_cannot_be_added_to_the_catalog() -> None:
    with pytest.raises(ValueError, match=r"flow 'draft' is not published \(version 0\)"):
        FlowCatalog([published("draft", version=0)])


# -- ready to sync to F&O -------------------------------------------------------------------------


def _order_with(
    *lines: OrderLine, company: str | None = None, assigned: tuple[LineAssignment, ...] = ()
) -> OrderState:
    history: list[Any] = [create_order("o-1", lines, company=company)]
    if assigned:
        history.append(cmd(AssignOrderData, "o-1", policy="p", lines=assigned))
    state = given(*history).state
    assert state is not None
    return state


def test_an_order_with_a_company_and_a_site_and_warehouse_on_every_line_is_ready() -> None:
    state = _order_with(
        line("1"),
        line("2"),
        company="USMF",
        assigned=(
            LineAssignment(line_id="1", site="1", warehouse="11"),
            LineAssignment(line_id="2", site="2", warehouse="21"),
        ),
    )
    assert readiness(state) == []
    assert readiness(state, "with_warehouse") == []


def test_readiness_says_everything_that_is_missing() -> None:
    state = _order_with(
        line("1"),
        line("2"),
        line("3"),
        assigned=(
            LineAssignment(line_id="1", site="1"),
            LineAssignment(line_id="3", site="1", warehouse="11"),
        ),
    )

    assert readiness(state) == [
        "the header has no company",
        "line 1 has no warehouse",
        "line 2 has no site and no warehouse",
    ]


def test_with_warehouse_only_lines_that_have_a_warehouse_are_synced() -> None:
    # journey 6: DOM could not source line 2; it is left out of the sync
    sourced = _order_with(
        line("1"),
        line("2"),
        company="USMF",
        assigned=(
            LineAssignment(line_id="1", site="1", warehouse="11"),
            LineAssignment(line_id="2", site="1"),
        ),
    )
    assert readiness(sourced, "with_warehouse") == []
    assert readiness(sourced) == ["line 2 has no warehouse"]

    no_site = _order_with(line("1"), company="USMF", assigned=(LineAssignment(line_id="1", warehouse="11"),))
    assert readiness(no_site, "with_warehouse") == ["line 1 has no site"]


def test_with_warehouse_needs_at_least_one_line_with_a_warehouse() -> None:
    state = _order_with(line("1"), company="USMF", assigned=(LineAssignment(line_id="1", site="1"),))
    assert readiness(state, "with_warehouse") == ["no line has a shipping warehouse"]


# --- status reasons per flow, return flows ----------------------------------------------------


def test_a_flows_status_reasons_rename_the_global_rows_for_its_orders_only() -> None:
    done = flow(send_step(), status_reasons={"Order invoiced": "Done"})
    plain = flow(send_step())

    assert done.table(DEFAULT_TRANSITIONS).apply(
        "o", "Order invoiced", FULFILLMENT_IN_PROGRESS, "Packed"
    ) == (
        COMPLETED,
        "Done",
    )
    assert plain.table(DEFAULT_TRANSITIONS) is DEFAULT_TRANSITIONS
    assert DEFAULT_TRANSITIONS.apply("o", "Order invoiced", FULFILLMENT_IN_PROGRESS, "Packed") == (
        COMPLETED,
        "Fulfilled",
    )


def test_a_flows_own_transition_rows_add_to_the_table() -> None:
    row = {
        "event": "Order picked",
        "source": "On hold",
        "target": "Fulfillment in progress",
        "reason": "Picked",
    }
    own = flow(send_step(), transitions=[row])

    assert own.table(DEFAULT_TRANSITIONS).allows("Order picked", "On hold")
    assert not DEFAULT_TRANSITIONS.allows("Order picked", "On hold")


def test_status_reasons_must_name_a_business_event() -> None:
    with pytest.raises(ValidationError, match=r"no business event is named \['Order invoiced!'\]"):
        flow(send_step(), status_reasons={"Order invoiced!": "Done"})


def test_a_provider_role_must_be_known_and_replacements_belong_to_return_flows() -> None:
    with pytest.raises(ValidationError, match=r"Input should be '\$channel', '\$shipper' or '\$invoicer'"):
        flow(send_step(provider="$warehouse"))
    replacement = {"id": "replace", "on": ["Return received"], "action": "create_replacement"}
    with pytest.raises(ValidationError, match="runs in return flows only"):
        flow(replacement)
    returns = flow(replacement, kind="return").model_copy(update={"version": 1})
    catalog = FlowCatalog([returns, flow(send_step()).model_copy(update={"name": "o", "version": 1})])
    state = given(create_order("o-1")).state
    assert state is not None
    chosen = (catalog.select(state), catalog.select(state, kind="return"))
    assert [f.name if f else None for f in chosen] == ["o", "f"]
