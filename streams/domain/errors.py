"""Domain errors. Each names the order and says what was refused and why."""

from __future__ import annotations


class DomainError(Exception):
    """A command the order refuses. The writer records it as a rejection; nothing is appended."""

    def __init__(self, order_id: str, message: str) -> None:
        super().__init__(f"order {order_id}: {message}")
        self.order_id = order_id


class IllegalTransition(DomainError):
    def __init__(self, order_id: str, business_event: str, status: str | None) -> None:
        shown = status if status is not None else "(no order yet)"
        super().__init__(
            order_id, f"'{business_event}' is not allowed while the order is in status '{shown}'"
        )
        self.business_event = business_event
        self.status = status


class UnknownOrder(DomainError):
    def __init__(self, order_id: str, what: str) -> None:
        super().__init__(order_id, f"{what}: the order does not exist (no 'New order' event yet)")


class OutOfSequence(DomainError):
    """An event reached a fold before its predecessors: a bug in the caller, never in data."""

    def __init__(self, order_id: str, expected: int, got: int) -> None:
        super().__init__(order_id, f"expected seq {expected}, got {got}; hold it until the gap fills")
        self.expected = expected
        self.got = got


class StateConflict(DomainError):
    """The order's state forbids the request now (a picked line, a completed order): 409."""


class InvalidRequest(DomainError):
    """The request asks for more than the order allows (more than shipped, past the return
    window): 422."""
