"""When things go wrong in a flow: validation that fails (critical or information),
providers that fail and are retried, late answers, holds, reprocess, orders not ready
for F&O, and a flow that loops. The shipped flow files, driven in memory."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from given import line
from journey_driver import (
    DONE,
    FULFILLED,
    HELD_INVALID,
    NEW,
    PACKED,
    PICKED,
    REPROCESSED,
    SENT,
    VALIDATED,
    Journey,
    Providers,
    journey_6_engine,
    shipped_flows,
)

from streams.domain.commands import (
    HoldOrder,
    RecordActionResult,
    RecordInvoiced,
    RecordShipped,
    ReprocessOrder,
)
from streams.domain.errors import DomainError
from streams.domain.events import (
    FlowStepRecorded,
    OrderHeld,
    OrderValidationFailed,
    ProviderActionRequested,
)
from streams.domain.flows import Flow, FlowCatalog, Step
from streams.domain.orchestration import MAX_CHAIN, FlowEngine, process
from streams.domain.policies import Assignment, AssignmentPolicy, Condition
from streams.domain.transitions import ON_HOLD

SEND_TO_FNO = ("fno", "send_to_fulfillment")
HTTP_503 = "HTTP 503 Service Unavailable"


def _result(
    j: Journey, request: ProviderActionRequested, success: bool, attempt: int | None = None, **data: str
) -> RecordActionResult:
    return RecordActionResult(
        envelope=j.factory.envelope(request.envelope.order_id),
        action_id=request.action_id,
        success=success,
        details="" if success else HTTP_503,
        data=data,
        attempt=attempt,
    )


def _steps(j: Journey, step: str) -> list[FlowStepRecorded]:
    return [e for e in j.of(FlowStepRecorded) if e.step == step]


# -- determinism -------------------------------------------------------------------------------


def test_the_same_create_processed_twice_from_the_same_state_gives_identical_events() -> None:
    j = Journey()
    created = j.order(1)

    first = process(created, None, j.engine)
    again = process(created, None, j.engine)

    assert first.events == again.events  # ids, times, statuses, the provider request: all equal
    assert isinstance(first.events[-1], ProviderActionRequested)
    assert first.events[-1].action_id == again.events[-1].action_id


def test_a_redelivered_create_changes_nothing() -> None:
    j = Journey()
    created = j.order(1)
    j.process(created)

    assert j.process(created).events == []


# -- validation ----------------------------------------------------------------------------------


def test_a_critical_header_failure_holds_the_order_and_asks_no_provider() -> None:
    j = Journey()
    created = j.order(1)
    created = created.model_copy(update={"ship_to": created.ship_to.model_copy(update={"country": "DE"})})

    state = j.run(created)

    assert j.statuses() == [NEW, HELD_INVALID]
    assert state.failed_step == "validate-header"
    assert state.validation_errors == ("we ship to the US and Canada only",)
    assert j.step_results() == [("validate-header", "failed")]
    assert state.steps["validate-header"].details == "we ship to the US and Canada only"
    assert j.actions() == []


def test_every_failed_critical_header_rule_is_reported_in_policy_order() -> None:
    j = Journey()
    created = j.order(1)
    address = created.ship_to.model_copy(update={"country": "DE", "postal_code": ""})

    state = j.run(created.model_copy(update={"ship_to": address, "customer_id": ""}))

    assert state.validation_errors == (
        "the order has no customer",
        "the ship-to address has no postal code",
        "we ship to the US and Canada only",
    )


def test_a_critical_line_failure_names_the_line_and_holds_the_order() -> None:
    j = Journey()
    created = j.order(1)
    created = created.model_copy(update={"lines": (*created.lines, line("9", quantity=0))})

    state = j.run(created)

    assert j.statuses() == [NEW, VALIDATED, HELD_INVALID]
    assert state.failed_step == "validate-lines"
    assert state.validation_errors == ("line 9: quantity must be positive",)
    assert [e.policy for e in j.of(OrderValidationFailed)] == ["order-line-validation"]
    assert j.actions() == []


def test_an_information_rule_that_fails_is_noted_and_the_flow_goes_on() -> None:
    j = Journey()
    created = j.order(1)
    big = (line("1", quantity=2, unit_price="6000.00"),)  # 12,000: above the review threshold

    state = j.run(created.model_copy(update={"lines": big}))

    assert state.steps["validate-header"].result == "succeeded"
    assert state.steps["validate-header"].details == "warnings: order total above 10,000 (review)"
    assert state.validation_errors == ()
    assert j.statuses()[-1] == DONE
    assert j.actions()[0] == ("fno", "send_to_fulfillment", "")


def test_an_information_line_rule_names_the_line_in_the_step_details() -> None:
    j = Journey()
    created = j.order(1)

    state = j.run(created.model_copy(update={"lines": (line("7", quantity=60, unit_price="1.00"),)}))

    assert state.steps["validate-lines"].details == "warnings: line 7: unusually large quantity"
    assert j.statuses()[-1] == DONE


# -- provider failures and retries ------------------------------------------------------------------


def test_a_failing_provider_is_retried_with_backoff_until_it_succeeds() -> None:
    j = Journey(providers=Providers(failures={SEND_TO_FNO: 3}))

    j.run(j.order(1))

    sends = [e for e in j.requests() if e.step == "send-to-fno"]
    assert [(e.attempt, e.max_attempts) for e in sends] == [(1, 4), (2, 4), (3, 4), (4, 4)]
    assert [e.result for e in _steps(j, "send-to-fno")] == ["retrying", "retrying", "retrying", "succeeded"]
    failures = [e for e in j.of(FlowStepRecorded) if e.step == "send-to-fno" and e.result == "retrying"]
    for failure, retry, wait in zip(failures, sends[1:], (1, 2, 4), strict=True):
        assert retry.not_before == failure.envelope.occurred_at + timedelta(seconds=wait)
        assert retry.deadline == retry.not_before + timedelta(seconds=60)  # the step's timeout
    assert j.statuses() == [NEW, VALIDATED, SENT, PICKED, PACKED, DONE]  # retrying moves no status


def test_a_provider_failing_past_its_retries_holds_the_order_naming_step_attempts_and_cause() -> None:
    j = Journey(providers=Providers(failures={SEND_TO_FNO: 4}))

    state = j.run(j.order(1))

    reason = f"step 'send-to-fno' failed after 4 attempts (fno send_to_fulfillment): {HTTP_503}"
    assert (state.status, state.status_reason) == (ON_HOLD, reason)
    assert [e.reason for e in j.of(OrderHeld)] == [reason]
    assert (state.steps["send-to-fno"].result, state.steps["send-to-fno"].attempt) == ("failed", 4)
    assert state.failed_step == "send-to-fno"
    assert state.pending_actions == ()
    assert j.actions() == [(*SEND_TO_FNO, "")] * 4


def test_a_non_critical_step_that_fails_does_not_stop_the_order() -> None:
    bigcommerce_down = {("bigcommerce", "update_channel_status"): 8}  # both updates, every attempt
    j = Journey(providers=Providers(failures=bigcommerce_down))

    state = j.run(j.order(1))

    assert j.statuses()[-1] == DONE
    assert state.steps["tell-bigcommerce-shipped"].result == "failed"
    assert state.steps["tell-bigcommerce-completed"].result == "failed"
    assert j.of(OrderHeld) == []
    assert state.channel_status is None


def test_every_attempt_of_a_step_carries_the_same_action_id() -> None:
    j = Journey(providers=Providers(silent=frozenset({SEND_TO_FNO})))
    j.run(j.order(1))
    first = j.requests()[-1]
    j.process(_result(j, first, False))
    retry = j.requests()[-1]
    assert (retry.attempt, retry.action_id) == (2, first.action_id)


def test_a_late_success_of_an_earlier_attempt_settles_the_step() -> None:
    # given a step whose first attempt failed and whose second is under way
    j = Journey(providers=Providers(silent=frozenset({SEND_TO_FNO})))
    j.run(j.order(1))
    first = j.requests()[-1]
    failed = _result(j, first, False, attempt=1)
    j.process(failed)
    before = j.state

    # when the first attempt's failure is redelivered, nothing changes
    redelivered = j.process(failed)
    assert (redelivered.events, redelivered.refused, j.state) == ([], [], before)

    # when the first attempt's success arrives late, the step settles
    j.process(_result(j, first, True, provider_order_id="SO-1"))
    assert j.state is not None and j.state.pending_actions == ()
    assert j.state.steps["send-to-fno"].result == "succeeded"
    assert j.statuses()[-1] == SENT and j.state.provider_order_id == "SO-1"

    # and the second attempt's answer, when it comes, is ignored
    late = j.process(_result(j, first, True, provider_order_id="SO-1", attempt=2))
    assert (late.events, late.refused) == ([], [])


def test_reprocess_reruns_the_failed_step_and_the_order_goes_on() -> None:
    j = Journey(providers=Providers(failures={SEND_TO_FNO: 4}))
    j.run(j.order(1, "ORD-1"))
    assert j.state is not None and j.state.status == ON_HOLD

    state = j.run(ReprocessOrder(envelope=j.factory.envelope("ORD-1"), reason="F&O is back"))

    after = j.statuses()[j.statuses().index(REPROCESSED) :]
    assert after[:2] == [REPROCESSED, SENT]
    assert after[-1] == DONE
    sends = [e for e in j.requests() if e.step == "send-to-fno"]
    assert (sends[-1].attempt, len(sends)) == (1, 5)  # a fresh run of the step, retries and all
    assert state.failed_step is None
    assert state.steps["send-to-fno"].result == "succeeded"


def test_reprocess_of_a_validation_failure_validates_again() -> None:
    j = Journey()
    created = j.order(1, "ORD-1")
    j.run(created.model_copy(update={"ship_to": created.ship_to.model_copy(update={"country": "DE"})}))

    j.run(ReprocessOrder(envelope=j.factory.envelope("ORD-1")))

    assert j.statuses() == [NEW, HELD_INVALID, REPROCESSED, HELD_INVALID]
    assert j.step_results() == [("validate-header", "failed")] * 2
    assert j.actions() == []


def test_reprocess_without_a_failed_step_is_refused() -> None:
    j = Journey()
    j.run(j.order(4, "ORD-1"))

    with pytest.raises(DomainError, match="no failed step"):
        j.process(ReprocessOrder(envelope=j.factory.envelope("ORD-1")))


def test_no_step_runs_while_the_order_is_on_hold() -> None:
    dom = ("dom", "send_to_fulfillment_optimization")
    j = Journey(providers=Providers(silent=frozenset({dom})))
    j.run(j.order(6, "ORD-1"))
    asked = j.requests()[-1]
    j.run(HoldOrder(envelope=j.factory.envelope("ORD-1"), reason="customer called"))

    outcome = j.process(_result(j, asked, True, **{"warehouse.1": "11"}))

    assert [e.result for e in outcome.events if isinstance(e, FlowStepRecorded)] == ["succeeded"]
    assert not any(isinstance(e, ProviderActionRequested) for e in outcome.events)
    assert j.state is not None and (j.state.status, j.state.status_reason) == (ON_HOLD, "customer called")
    assert j.actions() == [(*dom, "")]  # "send lines to billing" waits for an operator


# -- F&O readiness, DOM ----------------------------------------------------------------------------


def test_an_fno_export_of_an_order_not_ready_to_sync_fails_and_holds_the_order() -> None:
    # A journey-6 assignment policy that knows only US orders: a Canadian order gets no
    # company and no site, DOM still stamps warehouses, and F&O must not receive it.
    us_only = AssignmentPolicy(
        name="ecommerce-company-and-site",
        header=(
            Assignment(
                when=Condition(field="ship_to.country", op="eq", value="US"),
                set={"company": "USMF", "invoice_customer": "US-001"},
            ),
        ),
        lines=(Assignment(when=Condition(field="ship_to.country", op="eq", value="US"), set={"site": "1"}),),
    )
    flows = [
        f.model_copy(update={"policies": {**f.policies, us_only.name: us_only}})
        if f.name == "bigcommerce-dom-fno"
        else f
        for f in shipped_flows()
    ]
    j = Journey(engine=FlowEngine(FlowCatalog(flows)))
    created = j.order(6, "ORD-1")
    state = j.run(
        created.model_copy(update={"ship_to": created.ship_to.model_copy(update={"country": "CA"})})
    )

    missing = "; ".join(
        ["the header has no company"] + [f"line {x.line_id} has no site" for x in state.lines]
    )
    why = f"not ready to sync to F&O: {missing}"
    assert state.steps["assign-company-and-site"].details == "nothing to assign"
    assert state.steps["send-lines-to-fno-billing"].result == "failed"
    assert state.steps["send-lines-to-fno-billing"].details == why
    assert (state.status, state.status_reason) == (ON_HOLD, f"step 'send-lines-to-fno-billing': {why}")
    assert state.failed_step == "send-lines-to-fno-billing"
    assert [a[0] for a in j.actions()] == ["dom"]  # never sent to F&O


def test_dom_stamps_each_line_with_the_warehouse_it_chose() -> None:
    j = Journey(providers=Providers(silent=frozenset({("dom", "send_to_fulfillment_optimization")})))
    j.run(
        j.order(6, "ORD-1").model_copy(update={"lines": (line("1"), line("2"), line("3"))}),
    )
    asked = j.requests()[-1]

    state = j.run(_result(j, asked, True, **{"warehouse.1": "11", "warehouse.3": "31"}))

    assert [(x.line_id, x.site, x.warehouse) for x in state.lines] == [
        ("1", "1", "11"),
        ("2", "1", None),
        ("3", "1", "31"),
    ]
    assert state.steps["send-lines-to-fno-billing"].result == "succeeded"  # lines 1 and 3 go


def test_without_backorders_when_dom_sources_no_line_nothing_goes_to_fno_and_the_order_is_held() -> None:
    j = Journey(engine=journey_6_engine(backorders="disabled"))
    created = j.order(6)
    j.providers = Providers(unsourced_skus=frozenset(x.sku for x in created.lines))

    state = j.run(created)

    assert state.status == ON_HOLD
    assert state.status_reason.endswith("not ready to sync to F&O: no line has a shipping warehouse")
    assert [a[0] for a in j.actions()] == ["dom"]


# -- flow versions and loops -----------------------------------------------------------------------


def _flow(name: str, steps: list[dict[str, Any]], **extra: Any) -> Flow:
    return Flow.model_validate({"name": name, "version": 1, "steps": steps, **extra})


def test_an_order_keeps_the_flow_version_it_started_with() -> None:
    catalog = FlowCatalog(shipped_flows())
    engine = FlowEngine(catalog)
    first = Journey(engine=engine)
    first.run(first.order(4, "ORD-1"))

    # v2 of journey 4 also archives the shipment in SAP; published while ORD-1 is under way
    v1 = catalog.get("fno-fno", 1)
    assert v1 is not None
    archive = Step(
        id="archive-shipment", on=("Order shipped",), action="custom", provider="sap", critical=False
    )
    catalog.add(v1.model_copy(update={"version": 2, "steps": (*v1.steps, archive)}))
    second = Journey(engine=engine, factory=first.factory)
    second.run(second.order(4, "ORD-2"))

    for j, oid in ((first, "ORD-1"), (second, "ORD-2")):
        j.run(
            RecordShipped(envelope=j.factory.envelope(oid), provider="fno"),
            RecordInvoiced(envelope=j.factory.envelope(oid), provider="fno", invoice_id=f"INV-{oid}"),
        )
    assert first.state is not None and second.state is not None
    assert (first.state.flow_version, second.state.flow_version) == (1, 2)
    assert first.actions() == []
    assert second.actions() == [("sap", "custom", "")]
    assert first.statuses()[-1] == second.statuses()[-1] == FULFILLED


def test_a_flow_that_loops_is_stopped() -> None:
    policies = {
        "any": {
            "name": "any",
            "scope": "header",
            "rules": [{"require": {"field": "channel", "op": "has_data"}, "message": "m"}],
        }
    }
    ping = {"id": "ping", "on": ["New order", "pong succeeded"], "action": "validate_header", "policy": "any"}
    pong = {"id": "pong", "on": ["ping succeeded"], "action": "validate_header", "policy": "any"}
    j = Journey(engine=FlowEngine(FlowCatalog([_flow("loop", [ping, pong], policies=policies)])))

    with pytest.raises(DomainError, match=f"exceed {MAX_CHAIN} events: a loop"):
        j.process(j.order(1))


# -- a known inconsistency -------------------------------------------------------------------------


def _failure_branch_runs(kind: str) -> bool:
    """Does a step waiting on '<critical step> failed' run when that step fails for good?"""
    notify = {
        "id": "notify",
        "on": ["check failed"],
        "action": "custom",
        "provider": "bigcommerce",
        "critical": False,
    }
    checks = {
        "validation": {"id": "check", "on": ["New order"], "action": "validate_header", "policy": "ca-only"},
        "provider": {
            "id": "check",
            "on": ["New order"],
            "action": "send_to_fulfillment",
            "provider": "flexe",
            "max_retries": 0,
        },
        "fno readiness": {
            "id": "check",
            "on": ["New order"],
            "action": "send_to_fulfillment",
            "provider": "fno",
        },
    }
    ca_only = {
        "name": "ca-only",
        "scope": "header",
        "rules": [{"require": {"field": "ship_to.country", "op": "eq", "value": "CA"}, "message": "CA only"}],
    }
    flow = _flow("branch", [checks[kind], notify], policies={"ca-only": ca_only})
    j = Journey(
        engine=FlowEngine(FlowCatalog([flow])),
        providers=Providers(failures={("flexe", "send_to_fulfillment"): 1}),
    )
    state = j.run(j.order(1))  # a US order: fails the check, F&O readiness and Flexe alike
    assert state.status == ON_HOLD and state.steps["check"].result == "failed"
    return "notify" in state.steps


def test_a_critical_failure_branch_behaves_the_same_whatever_the_step_kind() -> None:
    runs = {kind: _failure_branch_runs(kind) for kind in ("validation", "provider", "fno readiness")}
    assert len(set(runs.values())) == 1, runs
