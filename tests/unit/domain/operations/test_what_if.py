"""What-if: recorded orders through a draft flow, the providers answering as they did.
Given histories of real journeys, when they are replayed through the same flows, then
nothing changes; through a changed draft, then the diff says what would have."""

from __future__ import annotations

from journey_driver import Journey, Providers, shipped_flows

from streams.domain.commands import CreateOrder, RecordActionResult, RecordPicked
from streams.domain.flows import Flow
from streams.domain.what_if import recorded_order, what_if

SEND_TO_FNO = ("fno", "send_to_fulfillment")


def _journeys(providers: Providers | None = None) -> list[Journey]:
    out = []
    for n, journey in enumerate((1, 2, 3, 4, 5, 6, 1, 6), start=1):
        j = Journey(providers=providers or Providers())
        j.run(j.order(journey, f"ORD-{n}"))
        out.append(j)
    return out


def _flow(name: str) -> Flow:
    return next(f for f in shipped_flows() if f.name == name)


def test_the_recorded_inputs_are_the_create_and_the_providers_reports() -> None:
    (j, *_) = _journeys()

    recorded = recorded_order(j.events)

    kinds = [type(c) for c in recorded.inputs]
    assert kinds[0] is CreateOrder and RecordPicked in kinds
    assert RecordActionResult not in kinds  # answers are looked up, not replayed as they were
    assert {(a.provider, a.action) for a in recorded.answers} >= {SEND_TO_FNO}


def test_replaying_through_the_same_flows_changes_nothing() -> None:
    journeys = _journeys()
    for draft in {j.state.flow for j in journeys if j.state is not None}:
        report = what_if([j.events for j in journeys], shipped_flows(), _flow(str(draft)))

        assert [(o.order_id, o.changes, o.refused) for o in report.changed] == []
        assert dict(report.summary())["unchanged"] == len(journeys)


def test_an_order_that_needed_three_attempts_would_be_held_by_a_draft_that_allows_two() -> None:
    j = Journey(providers=Providers(failures={SEND_TO_FNO: 2}))
    j.run(j.order(1, "ORD-1"))
    current = _flow("bigcommerce-fno")
    steps = tuple(
        s.model_copy(update={"max_retries": 1}) if s.id == "send-to-fno" else s for s in current.steps
    )

    report = what_if([j.events], shipped_flows(), current.model_copy(update={"steps": steps}))

    (order,) = report.orders
    assert (order.recorded.status, order.replayed.status) == ("Completed", "On hold")
    assert order.changes[0] == "status: Completed / Done -> On hold / " + order.replayed.reason
    assert "steps" in order.changes
    # the F&O reports of an order F&O never got are refused, as the writer would refuse them
    assert any("never got" in r for r in order.refused)
    assert dict(report.summary())["changed"] == 1


def test_a_draft_that_asks_a_new_provider_action_is_answered_by_a_stand_in() -> None:
    (j, *_) = _journeys()
    current = _flow("bigcommerce-fno")
    extra = current.steps[-1].model_copy(
        update={"id": "tell-sap", "provider": "sap", "action": "custom", "on": ("send-to-fno succeeded",)}
    )
    draft = current.model_copy(update={"steps": (*current.steps, extra)})

    (order,) = what_if([j.events], shipped_flows(), draft).orders

    assert order.stand_ins == 1
    assert ("sap", "custom") in order.replayed.actions and "provider actions" in order.changes
