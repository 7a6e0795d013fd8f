"""Available to promise: when a line's units are (or will be) available, and when it
ships. Pure.

IOM's ATP reads the on-hand change schedule of Inventory Visibility over a period of up
to 7 days and fills each line's *Inventory availability date* and *Estimated ship date*.
Here DOM promises every line it is asked about: a line it sourced is available today at
its source; a line it could not source is available on the first day, within the
period, when some active source's units plus its scheduled receipts cover it (none: no
date). A line ships ``processing_days`` after its units are available (shipping on the
day they arrive, by default).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, timedelta

from pydantic import Field, model_validator

from streams.domain.values import Value

MAX_PERIOD_DAYS = 7
"""IOM's ATP schedule period is at most 7 days."""


class ScheduledReceipt(Value):
    """Units expected at a source on a day (a purchase order, a transfer): the on-hand
    change schedule ATP reads. ``in_days`` says it relative to today (a standing demo
    schedule), ``expected`` as a date."""

    sku: str
    source: str
    quantity: int = Field(gt=0)
    expected: date | None = None
    in_days: int | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _one_date(self) -> ScheduledReceipt:
        if (self.expected is None) == (self.in_days is None):
            raise ValueError(f"{self.sku}@{self.source}: give expected (a date) or in_days, not both")
        return self

    def expected_on(self, today: date) -> date:
        return self.expected if self.expected is not None else today + timedelta(days=self.in_days or 0)


class AtpSettings(Value):
    period_days: int = Field(default=MAX_PERIOD_DAYS, ge=0, le=MAX_PERIOD_DAYS)
    processing_days: int = Field(default=0, ge=0)
    scheduled_receipts: tuple[ScheduledReceipt, ...] = ()


class LinePromise(Value):
    line_id: str
    inventory_availability_date: date
    estimated_ship_date: date


def promise_sourced(line_id: str, today: date, settings: AtpSettings) -> LinePromise:
    """A line DOM reserved units for: they are there today."""
    return LinePromise(
        line_id=line_id,
        inventory_availability_date=today,
        estimated_ship_date=today + timedelta(days=settings.processing_days),
    )


def promise_unsourced(
    line_id: str,
    sku: str,
    quantity: int,
    available: Mapping[str, int],
    sources: Iterable[str],
    today: date,
    settings: AtpSettings,
) -> LinePromise | None:
    """The first day within the period when one source (``available`` units of ``sku``
    per source now, plus its scheduled receipts) covers ``quantity``; None if none does."""
    wanted = set(sources)
    horizon = today + timedelta(days=settings.period_days)
    arriving = sorted(
        (
            (r.expected_on(today), r)
            for r in settings.scheduled_receipts
            if r.sku == sku and r.source in wanted and today <= r.expected_on(today) <= horizon
        ),
        key=lambda pair: pair[0],
    )
    level = {source: max(available.get(source, 0), 0) for source in wanted}
    for day, receipt in arriving:
        level[receipt.source] += receipt.quantity
        if level[receipt.source] >= quantity:
            return LinePromise(
                line_id=line_id,
                inventory_availability_date=day,
                estimated_ship_date=day + timedelta(days=settings.processing_days),
            )
    return None
