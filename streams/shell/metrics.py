"""The Prometheus metrics every process exposes on ``GET /metrics``.

The names and labels are a contract (dashboards and alerts read them, and every loop
instruments itself with these objects), so they are defined here once and nowhere
else. A process shows the metrics it moves; the rest stay at zero or absent.

Label values come from closed sets (commands, outcomes, reasons, providers, actions,
HTTP status codes, flow and step names): never an order id, which would grow the series
without bound.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from enum import StrEnum

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, Counter, Gauge, Histogram, generate_latest

__all__ = [
    "COMMANDS",
    "CONSUMER_LAG",
    "CONTENT_TYPE",
    "DEAD_LETTERS",
    "FLOW_STEP_SECONDS",
    "ORDERS",
    "PROVIDER_CALLS",
    "PROVIDER_CALL_SECONDS",
    "RECORDS_CONSUMED",
    "REGISTRY",
    "REJECTIONS",
    "TRANSACTION_COMMIT_SECONDS",
    "TRANSACTION_PARTITIONS",
    "WEBHOOKS",
    "CommandOutcome",
    "ProviderCallOutcome",
    "WebhookOutcome",
    "count_webhook",
    "mark_webhook",
    "observe_provider_call",
    "provider_action",
    "render",
]


class CommandOutcome(StrEnum):
    """What a writer did with a command (``oms_commands_total{outcome}``)."""

    APPENDED = "appended"
    REJECTED = "rejected"
    DUPLICATE = "duplicate"


class ProviderCallOutcome(StrEnum):
    """How a call to a provider ended (``oms_provider_calls_total{outcome}``)."""

    OK = "ok"
    """A 2xx answer."""
    REFUSED = "refused"
    """A 4xx answer the provider will repeat: the call is not tried again."""
    RETRIED = "retried"
    """A 429, 5xx or timeout that the retry policy tries again."""
    FAILED = "failed"
    """The last try failed (transport error, or retries exhausted)."""


class WebhookOutcome(StrEnum):
    """What became of a webhook delivery (``oms_webhooks_total{outcome}``)."""

    ACCEPTED = "accepted"
    DUPLICATE = "duplicate"
    UNAUTHORIZED = "unauthorized"
    INVALID = "invalid"
    FAILED = "failed"


_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
_STEP_BUCKETS = (0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0, 1800.0, 3600.0, 86400.0)

RECORDS_CONSUMED = Counter("oms_records_consumed_total", "Records read from Kafka, by topic.", ["topic"])
COMMANDS = Counter(
    "oms_commands_total",
    "Commands handled by a writer, by command type and outcome (appended|rejected|duplicate).",
    ["command", "outcome"],
)
REJECTIONS = Counter("oms_rejections_total", "Commands rejected, by reason.", ["reason"])
DEAD_LETTERS = Counter(
    "oms_dead_letters_total",
    "Records sent to a dead-letter topic, by the topic they came from and the reason.",
    ["topic", "reason"],
)
CONSUMER_LAG = Gauge(
    "oms_consumer_lag",
    "Records between a consumer's position and the end of its partition.",
    ["group", "topic", "partition"],
)
TRANSACTION_COMMIT_SECONDS = Histogram(
    "oms_transaction_commit_seconds",
    "Time to commit one Kafka transaction (events and the command offsets).",
    buckets=_LATENCY_BUCKETS,
)
TRANSACTION_PARTITIONS = Histogram(
    "oms_transaction_partitions",
    "Event partitions one writer transaction appended to: each costs the broker a produce "
    "request, a verification and a commit marker, so the commit's time grows with it.",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024),
)
PROVIDER_CALL_SECONDS = Histogram(
    "oms_provider_call_seconds",
    "Latency of one HTTP call to a provider, by provider, action and HTTP status (0: no answer).",
    ["provider", "action", "status"],
    buckets=_LATENCY_BUCKETS,
)
PROVIDER_CALLS = Counter(
    "oms_provider_calls_total",
    "Calls to a provider, by provider, action, outcome and HTTP status (0: no answer).",
    ["provider", "action", "outcome", "status"],
)
WEBHOOKS = Counter(
    "oms_webhooks_total", "Webhook deliveries taken in, by provider and outcome.", ["provider", "outcome"]
)
FLOW_STEP_SECONDS = Histogram(
    "oms_flow_step_seconds",
    "From a flow step's request to its result, by flow, step and result.",
    ["flow", "step", "result"],
    buckets=_STEP_BUCKETS,
)
ORDERS = Gauge("oms_orders", "Orders in the projection, by status.", ["status"])

CONTENT_TYPE = CONTENT_TYPE_LATEST

_webhook_outcome: ContextVar[WebhookOutcome | None] = ContextVar("oms_webhook_outcome", default=None)


def mark_webhook(outcome: WebhookOutcome) -> None:
    """Say what became of the webhook being handled when its HTTP status does not (a duplicate)."""
    _webhook_outcome.set(outcome)


def count_webhook(provider: str, status: int) -> None:
    """Count one webhook delivery by its answer: 2xx accepted (or what :func:`mark_webhook`
    said), 401/403 unauthorized, other 4xx invalid, 5xx failed."""
    outcome = _webhook_outcome.get()
    _webhook_outcome.set(None)  # a connection's next request starts afresh
    if outcome is None or status >= 300:
        if status < 300:
            outcome = WebhookOutcome.ACCEPTED
        elif status in (401, 403):
            outcome = WebhookOutcome.UNAUTHORIZED
        elif status < 500:
            outcome = WebhookOutcome.INVALID
        else:
            outcome = WebhookOutcome.FAILED
    WEBHOOKS.labels(provider=provider, outcome=outcome.value).inc()


_provider_action: ContextVar[str] = ContextVar("oms_provider_action", default="other")


@contextmanager
def provider_action(action: str) -> Iterator[None]:
    """Provider calls made inside count under this action (outside one: ``other``, e.g. a poll)."""
    token = _provider_action.set(action)
    try:
        yield
    finally:
        _provider_action.reset(token)


def observe_provider_call(
    provider: str, status: int | None, seconds: float, outcome: ProviderCallOutcome
) -> None:
    """One try of an HTTP call to a provider: its latency and outcome, by the current action."""
    action, code = _provider_action.get(), str(status or 0)
    PROVIDER_CALL_SECONDS.labels(provider=provider, action=action, status=code).observe(seconds)
    PROVIDER_CALLS.labels(provider=provider, action=action, outcome=outcome.value, status=code).inc()


def render() -> bytes:
    """The exposition text of every metric of this process (the body of ``GET /metrics``)."""
    return generate_latest(REGISTRY)
