"""Reading an order's timeline in a test of any tier (``from timelines import statuses``)."""

from __future__ import annotations

from collections.abc import Iterable

from streams.domain.events import Event


def statuses(events: Iterable[Event]) -> list[tuple[str, str]]:
    """The (status, reason) pairs an order went through, each change once."""
    out: list[tuple[str, str]] = []
    for e in events:
        pair = (e.envelope.status, e.envelope.status_reason)
        if not out or out[-1] != pair:
            out.append(pair)
    return out
