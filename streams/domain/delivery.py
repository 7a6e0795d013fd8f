"""When the customer wants the order: what "in jeopardy", "past due" and the delivery
alerts count from. Pure."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from streams.domain.order import OrderState

REQUESTED_DELIVERY = "requested_delivery_date"
"""The order attribute (ISO 8601 date or date-time) a channel sets for the customer's date."""


def requested_delivery(state: OrderState, promise_hours: float | None = None) -> datetime | None:
    """The order's requested delivery date-time (a bare date means its end, UTC), or its
    creation plus ``promise_hours`` when the channel set none (None: no date at all)."""
    raw = state.attributes.get(REQUESTED_DELIVERY)
    if raw:
        try:
            parsed = datetime.fromisoformat(raw)
        except ValueError:
            parsed = None
        if parsed is not None:
            if len(raw) <= 10:  # a date: the customer expects it by the end of that day
                parsed += timedelta(days=1)
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    if promise_hours is None:
        return None
    return state.created_at + timedelta(hours=promise_hours)
