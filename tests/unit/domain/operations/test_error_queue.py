"""The error queues, derived from what the orders went through: given a journey, when
something fails, then the right queue holds it; when it is fixed, it resolves."""

from __future__ import annotations

from datetime import UTC, datetime

from journey_driver import Journey, Providers

from streams.domain.commands import CommandRejected, RecordPicked, ReprocessOrder
from streams.domain.error_queue import (
    ErrorCategory,
    ErrorQuery,
    ErrorQueue,
    ErrorRecorded,
    ErrorResolved,
    Resolution,
    Verdict,
    plan_reprocess,
)
from streams.domain.events import Event

SEND_TO_FNO = ("fno", "send_to_fulfillment")
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def _observe(queue: ErrorQueue, events: list[Event]) -> list[ErrorRecorded | ErrorResolved]:
    return [r for e in events for r in queue.observe_event(e)]


def _rejection(command_id: str = "bc-hook-1", source: str = "connector:bigcommerce") -> CommandRejected:
    return CommandRejected(
        command_id=command_id,
        order_id="ORD-9",
        command_type="RecordPicked",
        error="order ORD-9 does not exist; 'RecordPicked' refused",
        correlation_id="c",
        rejected_at=NOW,
        source=source,
        command=b"\xc3\x01original",
    )


def test_a_provider_failing_past_its_retries_is_a_provider_action_error_naming_provider_and_step() -> None:
    j = Journey(providers=Providers(failures={SEND_TO_FNO: 4}))
    j.run(j.order(1, "ORD-1"))
    queue = ErrorQueue()

    records = _observe(queue, j.events)

    assert [
        (r.category, r.provider, r.step, r.order_id) for r in records if isinstance(r, ErrorRecorded)
    ] == [(ErrorCategory.PROVIDER_ACTION, "fno", "send-to-fno", "ORD-1")]
    assert "HTTP 503" in records[0].message and records[0].reprocessable  # type: ignore[union-attr]


def test_a_critical_validation_failure_is_a_policy_error() -> None:
    j = Journey()
    created = j.order(1, "ORD-1")
    j.run(created.model_copy(update={"ship_to": created.ship_to.model_copy(update={"country": "DE"})}))
    queue = ErrorQueue()

    (record,) = _observe(queue, j.events)

    assert isinstance(record, ErrorRecorded)
    assert (record.category, record.step, record.provider) == (ErrorCategory.POLICY, "validate-header", None)


def test_the_same_history_derived_twice_gives_the_same_records_once() -> None:
    j = Journey(providers=Providers(failures={SEND_TO_FNO: 4}))
    j.run(j.order(1, "ORD-1"))
    first, second = ErrorQueue(), ErrorQueue()
    derived = _observe(first, j.events)

    for record in derived:
        assert second.apply(record)
    assert _observe(second, j.events) == []  # everything was there already
    assert [q.record.error_id for q in second] == [q.record.error_id for q in first]


def test_reprocess_restarts_the_order_and_the_error_resolves_when_the_step_succeeds() -> None:
    j = Journey(providers=Providers(failures={SEND_TO_FNO: 4}))
    j.run(j.order(1, "ORD-1"))
    queue = ErrorQueue()
    _observe(queue, j.events)
    (error,) = queue.query(ErrorQuery(state="open"))

    (plan,) = plan_reprocess(queue, [error.record.error_id], NOW, "operator:test")
    assert plan.verdict is Verdict.SEND_COMMAND and isinstance(plan.command, ReprocessOrder)
    queue.mark_reprocessing(error.record.error_id, NOW)
    before = len(j.events)
    j.run(plan.command)
    resolved = [r for r in _observe(queue, j.events[before:]) if isinstance(r, ErrorResolved)]

    assert [(r.error_id, r.how) for r in resolved] == [(error.record.error_id, Resolution.REPROCESSED)]
    assert queue.query(ErrorQuery(state="open")) == []


def test_reprocess_of_a_resolved_error_is_a_no_op_that_says_so() -> None:
    queue = ErrorQueue()
    (record,) = queue.observe_rejection(_rejection())
    queue.apply(ErrorResolved(error_id=record.error_id, resolved_at=NOW, how="reprocessed"))

    (plan,) = plan_reprocess(queue, [record.error_id], NOW, "operator:test")

    assert plan.verdict is Verdict.ALREADY_RESOLVED and not plan.acts
    assert "already resolved" in plan.message


def test_a_refused_provider_report_is_an_inbound_error_resent_as_it_was_on_reprocess() -> None:
    queue = ErrorQueue()

    (record,) = queue.observe_rejection(_rejection())
    (plan,) = plan_reprocess(queue, [record.error_id], NOW, "operator:test")

    assert (record.category, record.provider, record.reprocessable) == (
        ErrorCategory.PROVIDER_INBOUND,
        "bigcommerce",
        True,
    )
    assert plan.verdict is Verdict.RESEND and plan.resend == b"\xc3\x01original"


def test_an_inbound_error_resolves_when_its_command_is_finally_accepted() -> None:
    j = Journey()
    j.run(j.order(4, "ORD-9"))
    queue = ErrorQueue()
    _observe(queue, j.events)
    (record,) = queue.observe_rejection(_rejection(command_id="fno-picked-1", source="connector:fno"))

    picked = RecordPicked(
        envelope=j.factory.envelope("ORD-9").model_copy(update={"command_id": "fno-picked-1"}), provider="fno"
    )
    before = len(j.events)
    j.process(picked)
    resolved = _observe(queue, j.events[before:])

    assert [(r.error_id, r.how) for r in resolved if isinstance(r, ErrorResolved)] == [
        (record.error_id, Resolution.REPROCESSED)
    ]


def test_an_operators_own_refused_command_is_not_queued() -> None:
    assert ErrorQueue().observe_rejection(_rejection(source="operator:cli")) == []


def test_bulk_reprocess_sends_one_command_per_order() -> None:
    j = Journey(providers=Providers(failures={SEND_TO_FNO: 8}))
    j.run(j.order(1, "ORD-1"))
    j.run(ReprocessOrder(envelope=j.factory.envelope("ORD-1")))
    queue = ErrorQueue()
    _observe(queue, j.events)
    ids = [q.record.error_id for q in queue.query(ErrorQuery(state="open"))]
    assert len(ids) == 2

    plans = plan_reprocess(queue, ids, NOW, "operator:test")

    assert [p.verdict for p in plans] == [Verdict.SEND_COMMAND, Verdict.SAME_ORDER]


def test_errors_are_listed_newest_first_with_filters() -> None:
    queue = ErrorQueue()
    queue.observe_rejection(_rejection("a", "connector:fno"))
    queue.observe_rejection(_rejection("b", "connector:bigcommerce"))

    assert [q.record.command_id for q in queue.query(ErrorQuery())] == ["b", "a"]
    assert [q.record.command_id for q in queue.query(ErrorQuery(provider="fno"))] == ["a"]
    assert queue.query(ErrorQuery(category=ErrorCategory.POLICY)) == []
    assert queue.query(ErrorQuery(since=NOW.replace(hour=13))) == []
