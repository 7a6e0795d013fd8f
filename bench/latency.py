"""Latency per hop, from the moments each order passed each mark: pure, no Kafka.

The benchmarks note when an order passed a ``Mark`` (mostly Kafka record timestamps, which
the producer stamps when the record is produced, in epoch milliseconds; the reading side's
own clock for the last one), and ``hops`` turns those moments into one latency per order
and hop. All the clocks are the same machine's wall clock, so moments from different
processes compare (at the records' millisecond resolution).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum


class Mark(Enum):
    """A moment on an order's way from publication to ``order.sent-to-fulfillment`` read."""

    PUBLISHED = "order published"
    """The ``CreateOrder`` record's timestamp on ``order.commands``."""
    APPENDED = "writer appended"
    """The ``order.created`` record's timestamp (the writer produced it, in its transaction)."""
    REQUESTED = "action requested"
    """The ``send_to_fulfillment`` request's timestamp on ``provider.fno.requests``."""
    ANSWERED = "provider answered"
    """The connector's ``RecordActionResult`` record's timestamp (a stand-in answers at once
    on getting the request, so this is also when it got it)."""
    RESULT_APPENDED = "result appended"
    """The ``order.sent-to-fulfillment`` record's timestamp."""
    READ = "sent-to-fulfillment read"
    """When a read_committed reader got ``order.sent-to-fulfillment`` (the reader's clock)."""
    WEBHOOK = "webhook sent"
    """Over HTTP: when the BigCommerce simulator began its first delivery of the order's
    ``store/order/created`` webhook to the connector (the simulator's clock)."""
    AT_PROVIDER = "sales order in F&O"
    """Over HTTP: when the F&O simulator took the sales order's header POST, inside the
    connector's ``$batch`` changeset (the simulator's request log)."""


@dataclass(frozen=True)
class Hop:
    name: str
    start: Mark
    end: Mark


HOPS: tuple[Hop, ...] = (
    Hop("command published -> writer appended", Mark.PUBLISHED, Mark.APPENDED),
    Hop("writer appended -> action requested", Mark.APPENDED, Mark.REQUESTED),
    Hop("action requested -> connector got it", Mark.REQUESTED, Mark.ANSWERED),
    Hop("provider answered -> result appended", Mark.ANSWERED, Mark.RESULT_APPENDED),
    Hop("result appended -> read (commit, fetch)", Mark.RESULT_APPENDED, Mark.READ),
    Hop("end to end: published -> sent-to-fulfillment read", Mark.PUBLISHED, Mark.READ),
)
"""The stream-level path of journey 1, hop by hop, then whole."""

HTTP_HOPS: tuple[Hop, ...] = (
    Hop("webhook sent -> command published (BigCommerce conn.)", Mark.WEBHOOK, Mark.PUBLISHED),
    Hop("command published -> writer appended", Mark.PUBLISHED, Mark.APPENDED),
    Hop("writer appended -> action requested", Mark.APPENDED, Mark.REQUESTED),
    Hop("action requested -> sales order in F&O (F&O conn.)", Mark.REQUESTED, Mark.AT_PROVIDER),
    Hop("end to end: webhook -> sales order in F&O", Mark.WEBHOOK, Mark.AT_PROVIDER),
)
"""Journey 1 over HTTP, from the shop's webhook to the sales order in F&O."""


@dataclass(frozen=True)
class Percentiles:
    """Nearest-rank percentiles of a set of latencies, in milliseconds."""

    count: int
    p50: float
    p95: float
    p99: float
    max: float

    def line(self) -> str:
        if not self.count:
            return "no samples"
        return (
            f"p50 {self.p50:7.1f}  p95 {self.p95:7.1f}  p99 {self.p99:7.1f}  "
            f"max {self.max:7.1f} ms  ({self.count:,})"
        )


def percentiles(values: Iterable[float]) -> Percentiles:
    """p50, p95, p99 and max by nearest rank (a value that was measured, never interpolated);
    NaN for each when there is nothing to rank."""
    ranked = sorted(values)
    n = len(ranked)
    if not n:
        nan = float("nan")
        return Percentiles(0, nan, nan, nan, nan)

    def rank(q: float) -> float:
        return ranked[max(0, math.ceil(q * n) - 1)]

    return Percentiles(n, rank(0.50), rank(0.95), rank(0.99), ranked[-1])


Moments = Mapping[Mark, float]
"""When one order passed each mark it passed (milliseconds on one clock)."""


def hops(orders: Mapping[str, Moments], path: Sequence[Hop] = HOPS) -> dict[Hop, list[float]]:
    """Per hop, the latency of every order that passed both of its marks. An order that
    missed a mark is left out of the hops that need it (``percentiles(...).count`` says how
    many made it)."""
    out: dict[Hop, list[float]] = {hop: [] for hop in path}
    for moments in orders.values():
        for hop in path:
            start, end = moments.get(hop.start), moments.get(hop.end)
            if start is not None and end is not None:
                out[hop].append(end - start)
    return out


def summary(orders: Mapping[str, Moments], path: Sequence[Hop] = HOPS) -> list[tuple[Hop, Percentiles]]:
    """Each hop of ``path`` with its percentiles, in path order."""
    return [(hop, percentiles(values)) for hop, values in hops(orders, path).items()]
