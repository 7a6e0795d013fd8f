"""The metric names are a contract: other processes and dashboards read them."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from streams.shell import metrics

EXPECTED = {
    "oms_records_consumed": ("counter", {"topic"}),
    "oms_commands": ("counter", {"command", "outcome"}),
    "oms_rejections": ("counter", {"reason"}),
    "oms_dead_letters": ("counter", {"topic", "reason"}),
    "oms_consumer_lag": ("gauge", {"group", "topic", "partition"}),
    "oms_transaction_commit_seconds": ("histogram", set()),
    "oms_provider_call_seconds": ("histogram", {"provider", "action", "status"}),
    "oms_provider_calls": ("counter", {"provider", "action", "outcome", "status"}),
    "oms_webhooks": ("counter", {"provider", "outcome"}),
    "oms_flow_step_seconds": ("histogram", {"flow", "step", "result"}),
    "oms_orders": ("gauge", {"status"}),
}


def _touch_every_metric() -> None:
    metrics.RECORDS_CONSUMED.labels(topic="order.created").inc()
    metrics.COMMANDS.labels(command="CreateOrder", outcome=metrics.CommandOutcome.REJECTED).inc()
    metrics.REJECTIONS.labels(reason="transition not allowed").inc()
    metrics.DEAD_LETTERS.labels(topic="order.commands", reason="undecodable").inc()
    metrics.CONSUMER_LAG.labels(group="g", topic="order.commands", partition="0").set(3)
    metrics.TRANSACTION_COMMIT_SECONDS.observe(0.02)
    metrics.PROVIDER_CALL_SECONDS.labels(provider="fno", action="create", status="201").observe(0.1)
    metrics.PROVIDER_CALLS.labels(provider="fno", action="create", outcome="ok", status="201").inc()
    metrics.WEBHOOKS.labels(provider="flexe", outcome=metrics.WebhookOutcome.DUPLICATE).inc()
    metrics.FLOW_STEP_SECONDS.labels(flow="journey-1", step="send", result="Succeeded").observe(2)
    metrics.ORDERS.labels(status="Completed").set(7)


def test_every_metric_has_its_name_type_and_labels() -> None:
    _touch_every_metric()
    families = {f.name: f for f in text_string_to_metric_families(metrics.render().decode())}
    for name, (kind, labels) in EXPECTED.items():
        family = families[name]
        assert family.type == kind, name
        sample_labels = set().union(*(s.labels for s in family.samples)) - {"le"}
        assert sample_labels == labels, name


def test_counters_render_with_the_total_suffix() -> None:
    _touch_every_metric()
    text = metrics.render().decode()
    for name in ("oms_records_consumed_total", "oms_commands_total", "oms_provider_calls_total"):
        assert f"\n{name}{{" in text
    assert 'oms_commands_total{command="CreateOrder",outcome="rejected"}' in text


def _webhooks(provider: str, outcome: str) -> float:
    value = metrics.REGISTRY.get_sample_value(
        "oms_webhooks_total", {"provider": provider, "outcome": outcome}
    )
    return value or 0.0


def test_a_webhook_counts_by_its_answer_or_what_the_handler_said() -> None:
    before = {o: _webhooks("unit", o) for o in ("accepted", "duplicate", "unauthorized", "invalid", "failed")}
    metrics.count_webhook("unit", 200)
    metrics.mark_webhook(metrics.WebhookOutcome.DUPLICATE)
    metrics.count_webhook("unit", 200)
    metrics.count_webhook("unit", 204)  # the mark does not outlive its request
    for status in (401, 400, 503):
        metrics.count_webhook("unit", status)
    moved = {o: _webhooks("unit", o) - n for o, n in before.items()}
    assert moved == {"accepted": 2, "duplicate": 1, "unauthorized": 1, "invalid": 1, "failed": 1}
