"""Small DOM configurations for the sourcing tests: sources on a map, stock per source."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from streams.domain.sourcing import (
    Constraints,
    DomConfig,
    GeoPoint,
    Source,
    SourcingLine,
    SourcingRequest,
    Strategy,
)

AT = datetime(2026, 11, 28, 15, 0, tzinfo=UTC)
HOME = GeoPoint(lat=40.0, lon=-100.0)
"""Where the test orders ship to."""


def east(km: float) -> GeoPoint:
    """A point ``km`` east of HOME along its parallel (close enough for ranking)."""
    return GeoPoint(lat=40.0, lon=-100.0 + km / 85.39)


def source(source_id: str, km: float, **extra: Any) -> Source:
    return Source(id=source_id, location=east(km), warehouse=f"W-{source_id}", **extra)


def config(*sources: Source, alternate: Strategy | None = None, **constraints: Any) -> DomConfig:
    strategies = [Strategy(name="default", constraints=Constraints(**constraints))]
    if alternate is not None:
        strategies.append(alternate)
    return DomConfig(
        sources=sources,
        strategies=tuple(strategies),
        default_strategy="default",
        alternate_strategy=alternate.name if alternate else None,
    )


def request(*lines: tuple[str, int], ship_to: GeoPoint | None = HOME, at: datetime = AT) -> SourcingRequest:
    """Lines as (sku, quantity); line ids are 1, 2, ..."""
    return SourcingRequest(
        order_id="ORD-1",
        ship_to=ship_to,
        lines=tuple(SourcingLine(line_id=str(i), sku=sku, quantity=q) for i, (sku, q) in enumerate(lines, 1)),
        at=at,
    )
