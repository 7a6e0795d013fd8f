"""The JSON the API speaks: orders, their history, stats and live changes.

Generic over event types: an event's payload is its model minus the envelope, so the
step-result events of later flows show up without a change here.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any

from streams.adapters.http.read_model import Change, RecordedEvent, Stats
from streams.domain.order import OrderState

JSON = dict[str, Any]


def order(state: OrderState, as_of: datetime | None = None) -> JSON:
    """Current (or past) state; each line's ``status`` is its own, or the order's."""
    data = state.model_dump(mode="json", exclude={"created_by"})
    for line, shown in zip(state.lines, data["lines"], strict=True):
        shown["status"] = state.line_status(line)
        shown["follows_order_status"] = line.status is None
    data["waiting_on"] = state.waiting_on
    data["as_of"] = as_of.isoformat() if as_of is not None else None
    return data


def order_summary(state: OrderState) -> JSON:
    return {
        "order_id": state.order_id,
        "version": state.version,
        "status": state.status,
        "status_reason": state.status_reason,
        "channel": state.channel,
        "customer_id": state.customer_id,
        "company": state.company,
        "fulfillment_provider": state.fulfillment_provider,
        "external_refs": [{"system": r.system, "ref": r.ref} for r in state.external_refs],
        "validation_errors": list(state.validation_errors),
        "failed_step": state.failed_step,
        "waiting_on": state.waiting_on,
        "updated_at": state.updated_at.isoformat(),
    }


def recorded_event(recorded: RecordedEvent) -> JSON:
    event = recorded.event
    env = event.envelope
    return {
        "seq": env.seq,
        "type": type(event).__name__,
        "business_event": event.business_event,
        "topic": recorded.topic,
        "occurred_at": env.occurred_at.isoformat(),
        "status": env.status,
        "status_reason": env.status_reason,
        "event_id": env.event_id,
        "correlation_id": env.correlation_id,
        "causation_id": env.causation_id,
        "source": env.source,
        "payload": event.model_dump(mode="json", exclude={"envelope"}),
    }


def change(c: Change) -> JSON:
    return {
        "type": c.type,
        "order_id": c.order_id,
        "seq": c.seq,
        "topic": c.topic,
        "status": c.status,
        "status_reason": c.status_reason,
        "occurred_at": c.occurred_at.isoformat(),
    }


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def stats(s: Stats) -> JSON:
    data: JSON = _plain(dataclasses.asdict(s))
    data["events_per_second"] = round(s.events_per_second, 1)
    data.update(data.pop("extra"))
    return data
