"""Fulfillment optimization (DOM): which source ships which line. A pure function.

``source_order(request, config, availability)`` plays IOM's "Send to fulfillment
optimization": over the fulfillment sources (location, mapped shipping warehouse, safety
stock, cutoff, priority, active flag) and the units each has available, it returns a
``FulfillmentPlan``: fully, partially or not sourced, with one allocation per (line,
source) that becomes one fulfillment order per source.

The objective is IOM's built-in one, *closest source first*: each line goes to the
nearest eligible source that can ship all of it; at equal distance a source the order
already uses wins (fewest shipments), then the lower priority number, then the source
id, so every tie is decided the same way everywhere. ``priority_first`` makes priority
tiers dominate distance instead.

Constraints (per strategy): maximum distance (the strategy's and each source's; the
lower wins), restrict partial fulfillment (all lines or none; a line is never shipped
in part), maximum sources per order and per line, safety stock (units a source keeps
back), cutoff (a source past its local cutoff takes nothing), priority. Hard constraints
always hold; the ones a strategy lists as ``soft`` are dropped in a second pass when the
first finds no complete plan. A strategy that cannot source everything gives way to the
alternate strategy, and the better plan wins (more lines, then more units sourced).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from functools import partial
from itertools import takewhile
from typing import Literal

from pydantic import Field, model_validator

from streams.domain.atp import AtpSettings, LinePromise
from streams.domain.values import Address, Value

ConstraintName = Literal[
    "max_distance",
    "restrict_partial",
    "max_sources_per_order",
    "max_sources_per_line",
    "safety_stock",
    "cutoff",
    "priority",
]

Outcome = Literal["fully sourced", "partially sourced", "not sourced"]

EARTH_RADIUS_KM = 6371.0088


class GeoPoint(Value):
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)


def distance_km(a: GeoPoint, b: GeoPoint) -> float:
    """Great-circle (aerial) distance, as IOM's DOM measures it by default."""
    p1, p2 = math.radians(a.lat), math.radians(b.lat)
    dp, dl = p2 - p1, math.radians(b.lon - a.lon)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


class Source(Value):
    """A fulfillment source: a warehouse, DC or store that ships."""

    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    name: str = ""
    location: GeoPoint
    warehouse: str
    """The shipping warehouse F&O knows the source by (stamped on the lines it ships)."""
    site: str | None = None
    safety_stock: int = Field(default=0, ge=0)
    cutoff: time | None = None
    """Local time after which the source takes no more orders today."""
    utc_offset_hours: float = 0.0
    priority: int = 100
    """Lower is preferred."""
    active: bool = True
    max_distance_km: float | None = Field(default=None, gt=0)


class Constraints(Value):
    max_distance_km: float | None = Field(default=None, gt=0)
    distance_limits: bool = True
    """Enforce maximum distances: ``max_distance_km`` and each source's own limit."""
    restrict_partial: bool = False
    max_sources_per_order: int | None = Field(default=None, ge=1)
    max_sources_per_line: int = Field(default=1, ge=1)
    safety_stock: bool = True
    respect_cutoff: bool = False
    priority_first: bool = False
    soft: frozenset[ConstraintName] = frozenset()
    """Constraints the second pass drops when the first finds no complete plan."""

    def relaxed(self) -> Constraints:
        """These constraints with the soft ones dropped."""
        off: dict[ConstraintName, tuple[str, object]] = {
            "max_distance": ("distance_limits", False),
            "restrict_partial": ("restrict_partial", False),
            "max_sources_per_order": ("max_sources_per_order", None),
            "max_sources_per_line": ("max_sources_per_line", 1_000_000),
            "safety_stock": ("safety_stock", False),
            "cutoff": ("respect_cutoff", False),
            "priority": ("priority_first", False),
        }
        update = dict(off[name] for name in self.soft)
        return self.model_copy(update={**update, "soft": frozenset()})

    def is_on(self, name: ConstraintName) -> bool:
        return {
            "max_distance": self.distance_limits,
            "restrict_partial": self.restrict_partial,
            "max_sources_per_order": self.max_sources_per_order is not None,
            "max_sources_per_line": True,
            "safety_stock": self.safety_stock,
            "cutoff": self.respect_cutoff,
            "priority": self.priority_first,
        }[name]


class Strategy(Value):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    description: str = ""
    sources: tuple[str, ...] = ()
    """The source list this strategy may use; empty: every source."""
    constraints: Constraints = Field(default_factory=Constraints)


class DomConfig(Value):
    """Sources, strategies and ship-to locations: configuration, validated on load."""

    sources: tuple[Source, ...] = Field(min_length=1)
    strategies: tuple[Strategy, ...] = Field(min_length=1)
    default_strategy: str
    alternate_strategy: str | None = None
    geocodes: dict[str, GeoPoint] = Field(default_factory=dict)
    """Ship-to locations by ``<country>-<postal code>`` or ``<country>-<first 3 characters>``."""
    atp: AtpSettings = AtpSettings()
    """Available to promise: the period, processing days, and the scheduled receipts."""

    @model_validator(mode="after")
    def _consistent(self) -> DomConfig:
        ids = [s.id for s in self.sources]
        strangers = sorted({r.source for r in self.atp.scheduled_receipts} - set(ids))
        if strangers:
            raise ValueError(f"atp.scheduled_receipts name unknown sources {strangers}; known: {ids}")
        repeated = sorted({i for i in ids if ids.count(i) > 1})
        if repeated:
            raise ValueError(f"source ids must be unique; repeated: {repeated}")
        names = [s.name for s in self.strategies]
        if len(set(names)) != len(names):
            raise ValueError(f"strategy names must be unique: {names}")
        for strategy in self.strategies:
            unknown = sorted(set(strategy.sources) - set(ids))
            if unknown:
                raise ValueError(f"strategy '{strategy.name}' lists unknown sources {unknown}; known: {ids}")
        for role, name in (("default", self.default_strategy), ("alternate", self.alternate_strategy)):
            if name is not None and name not in names:
                raise ValueError(f"{role} strategy '{name}' is not defined; defined: {names}")
        return self

    def strategy(self, name: str) -> Strategy:
        return next(s for s in self.strategies if s.name == name)

    def source(self, source_id: str) -> Source:
        return next(s for s in self.sources if s.id == source_id)

    def locate(self, ship_to: Address, attributes: Mapping[str, str] | None = None) -> GeoPoint | None:
        """Where an order ships to: ``ship_to_lat``/``ship_to_lon`` attributes if the
        channel sent them, else the postal-code table (exact code, then its first three
        characters). None if neither knows it: then no distance can be checked."""
        attributes = attributes or {}
        if "ship_to_lat" in attributes and "ship_to_lon" in attributes:
            try:
                return GeoPoint(lat=float(attributes["ship_to_lat"]), lon=float(attributes["ship_to_lon"]))
            except ValueError:
                pass
        code = ship_to.postal_code.replace(" ", "").upper()
        country = ship_to.country.upper()
        return self.geocodes.get(f"{country}-{code}") or self.geocodes.get(f"{country}-{code[:3]}")


class SourcingLine(Value):
    line_id: str
    sku: str
    quantity: int = Field(ge=1)


class SourcingRequest(Value):
    order_id: str
    ship_to: GeoPoint | None
    lines: tuple[SourcingLine, ...] = Field(min_length=1)
    at: datetime
    """When the decision is made: cutoffs are checked against it."""
    strategy: str | None = None
    """A strategy chosen for this order (e.g. by a policy); None: the default."""


class Allocation(Value):
    line_id: str
    sku: str
    source: str
    warehouse: str
    site: str | None = None
    quantity: int
    distance_km: float | None = None
    keep: int = 0
    """Units the source must keep after this reservation (its safety stock, if enforced)."""
    reservation_id: str | None = None


class FulfillmentOrderDraft(Value):
    source: str
    warehouse: str
    site: str | None = None
    allocations: tuple[Allocation, ...]


class FulfillmentPlan(Value):
    order_id: str
    strategy: str
    outcome: Outcome
    allocations: tuple[Allocation, ...] = ()
    unsourced: tuple[str, ...] = ()
    """Lines no source could ship (whole lines: a line is never shipped in part)."""
    relaxed: tuple[ConstraintName, ...] = ()
    """Soft constraints the plan did without."""
    notes: tuple[str, ...] = ()
    promises: tuple[LinePromise, ...] = ()
    """ATP: when each line's units are available and when it ships (``atp``)."""

    def fulfillment_orders(self) -> list[FulfillmentOrderDraft]:
        """One per source, in the order the sources were first chosen."""
        by_source: dict[str, list[Allocation]] = {}
        for a in self.allocations:
            by_source.setdefault(a.source, []).append(a)
        return [
            FulfillmentOrderDraft(source=s, warehouse=al[0].warehouse, site=al[0].site, allocations=tuple(al))
            for s, al in by_source.items()
        ]

    def sourced_lines(self) -> list[str]:
        return list(dict.fromkeys(a.line_id for a in self.allocations))

    def shipping_warehouse(self, line_id: str) -> Allocation | None:
        """The allocation whose warehouse is stamped on the line: the one shipping most of it."""
        mine = [a for a in self.allocations if a.line_id == line_id]
        return max(mine, key=lambda a: a.quantity) if mine else None

    def summary(self) -> str:
        fos = "; ".join(
            f"{fo.source}: line{'s' if len(fo.allocations) > 1 else ''} "
            + ", ".join(f"{a.line_id} x{a.quantity}" for a in fo.allocations)
            for fo in self.fulfillment_orders()
        )
        parts = [f"{self.outcome} by strategy {self.strategy}"]
        if fos:
            parts.append(f"{len(self.fulfillment_orders())} fulfillment orders ({fos})")
        if self.unsourced:
            parts.append(
                f"no inventory for line{'s' if len(self.unsourced) > 1 else ''} {', '.join(self.unsourced)}"
            )
        if self.relaxed:
            parts.append(f"soft constraints dropped: {', '.join(self.relaxed)}")
        return "; ".join(parts)


Availability = Mapping[tuple[str, str], int]
"""Units available (on hand minus reserved) per (sku, source id)."""


@dataclass(frozen=True)
class _Candidate:
    source: Source
    distance: float | None
    rank: tuple[float, float, int, str]


def _distances(request: SourcingRequest, config: DomConfig) -> dict[str, float | None]:
    """Each source's distance to the ship-to point, computed once per decision."""
    point = request.ship_to
    return {s.id: (distance_km(point, s.location) if point is not None else None) for s in config.sources}


def _candidates(
    request: SourcingRequest,
    config: DomConfig,
    strategy: Strategy,
    c: Constraints,
    distances: Mapping[str, float | None],
) -> list[_Candidate]:
    listed = set(strategy.sources)
    limit_distance = c.distance_limits
    local_time: dict[float, time] = {}  # offset -> the local time of the decision
    out = []
    for source in config.sources:
        if not source.active or (listed and source.id not in listed):
            continue
        distance = distances[source.id]
        if limit_distance:
            limit = c.max_distance_km
            if source.max_distance_km is not None and (limit is None or source.max_distance_km < limit):
                limit = source.max_distance_km
            if limit is not None and (distance is None or distance > limit):
                continue
        if c.respect_cutoff and source.cutoff is not None:
            offset = source.utc_offset_hours
            if offset not in local_time:
                local_time[offset] = (request.at + timedelta(hours=offset)).time()
            if local_time[offset] >= source.cutoff:
                continue
        tier = float(source.priority) if c.priority_first else 0.0
        far = distance if distance is not None else math.inf
        out.append(_Candidate(source, distance, (tier, far, source.priority, source.id)))
    out.sort(key=lambda x: x.rank)
    return out


def _same_distance(a: _Candidate, b: _Candidate) -> bool:
    """Same priority tier and distance: only the tie-breaks tell them apart."""
    return a.rank[:2] == b.rank[:2]


def _usable(availability: Availability, c: Constraints, sku: str, source: Source) -> int:
    keep = source.safety_stock if c.safety_stock else 0
    return max(0, availability.get((sku, source.id), 0) - keep)


def _allocation(line: SourcingLine, cand: _Candidate, quantity: int, c: Constraints) -> Allocation:
    return Allocation(
        line_id=line.line_id,
        sku=line.sku,
        source=cand.source.id,
        warehouse=cand.source.warehouse,
        site=cand.source.site,
        quantity=quantity,
        distance_km=None if cand.distance is None else round(cand.distance, 3),
        keep=cand.source.safety_stock if c.safety_stock else 0,
    )


def _assign(
    lines: Sequence[SourcingLine],
    candidates: Sequence[_Candidate],
    availability: Availability,
    c: Constraints,
) -> tuple[list[Allocation], list[str]]:
    """Closest first, line by line; a line ships whole or not at all."""
    left: dict[tuple[str, str], int] = {}
    used: list[str] = []
    allocations: list[Allocation] = []
    unsourced: list[str] = []

    def free(sku: str, cand: _Candidate) -> int:
        key = (sku, cand.source.id)
        if key not in left:
            left[key] = _usable(availability, c, sku, cand.source)
        return left[key]

    def key(x: _Candidate) -> tuple[float, float, bool, int, str]:
        return (x.rank[0], x.rank[1], x.source.id not in used, x.rank[2], x.rank[3])

    for line in lines:
        limit_reached = c.max_sources_per_order is not None and len(used) >= c.max_sources_per_order
        allowed = [x for x in candidates if not limit_reached or x.source.id in used]
        single = None
        for n, x in enumerate(allowed):  # in rank order: the first that can ship the line...
            if free(line.sku, x) >= line.quantity:
                # ...unless a source at the same distance is already used by the order
                ties = takewhile(partial(_same_distance, x), allowed[n:])
                single = min((y for y in ties if free(line.sku, y) >= line.quantity), key=key)
                break
        picked: list[tuple[_Candidate, int]] = []
        if single is not None:
            picked = [(single, line.quantity)]
        elif c.max_sources_per_line > 1:
            ranked = sorted(allowed, key=key)
            need, new_sources = line.quantity, 0
            room = None if c.max_sources_per_order is None else c.max_sources_per_order - len(used)
            for x in ranked:
                if need == 0 or len(picked) == c.max_sources_per_line:
                    break
                if x.source.id not in used and room is not None and new_sources >= room:
                    continue
                take = min(need, free(line.sku, x))
                if take > 0:
                    picked.append((x, take))
                    need -= take
                    new_sources += x.source.id not in used
            if need > 0:
                picked = []
        if not picked:
            unsourced.append(line.line_id)
            continue
        for x, quantity in picked:
            left[(line.sku, x.source.id)] -= quantity
            allocations.append(_allocation(line, x, quantity, c))
            if x.source.id not in used:
                used.append(x.source.id)
    return allocations, unsourced


def _consolidate(
    lines: Sequence[SourcingLine],
    candidates: Sequence[_Candidate],
    availability: Availability,
    c: Constraints,
) -> tuple[list[Allocation], list[str]]:
    """With a cap on sources per order, closest-first may spend the cap on the wrong
    sources: choose the sources that can ship the most lines whole, then assign closest
    first among them."""
    assert c.max_sources_per_order is not None
    ships = {
        x.source.id: {
            line.line_id for line in lines if _usable(availability, c, line.sku, x.source) >= line.quantity
        }
        for x in candidates
    }
    chosen: list[_Candidate] = []
    open_lines = {line.line_id for line in lines}
    for _ in range(c.max_sources_per_order):
        best: tuple[int, _Candidate] | None = None
        for x in candidates:
            n = len(ships[x.source.id] & open_lines)
            if n and x not in chosen and (best is None or n > best[0]):
                best = (n, x)
        if best is None:
            break
        chosen.append(best[1])
        open_lines -= ships[best[1].source.id]
    return _assign(lines, chosen, availability, c)


def _score(allocations: Iterable[Allocation], unsourced: Sequence[str], lines: int) -> tuple[int, int]:
    return lines - len(unsourced), sum(a.quantity for a in allocations)


def _plan(
    request: SourcingRequest,
    config: DomConfig,
    strategy: Strategy,
    c: Constraints,
    availability: Availability,
    distances: Mapping[str, float | None],
) -> FulfillmentPlan:
    candidates = _candidates(request, config, strategy, c, distances)
    allocations, unsourced = _assign(request.lines, candidates, availability, c)
    if unsourced and c.max_sources_per_order is not None:
        other, other_unsourced = _consolidate(request.lines, candidates, availability, c)
        n = len(request.lines)
        if _score(other, other_unsourced, n) > _score(allocations, unsourced, n):
            allocations, unsourced = other, other_unsourced
    notes: list[str] = []
    if request.ship_to is None:
        notes.append("ship-to location unknown: distances not checked")
    if unsourced and c.restrict_partial and allocations:
        notes.append("partial fulfillment is restricted: nothing sourced")
        allocations, unsourced = [], [line.line_id for line in request.lines]
    if not unsourced:
        outcome: Outcome = "fully sourced"
    elif allocations:
        outcome = "partially sourced"
    else:
        outcome = "not sourced"
    return FulfillmentPlan(
        order_id=request.order_id,
        strategy=strategy.name,
        outcome=outcome,
        allocations=tuple(allocations),
        unsourced=tuple(unsourced),
        notes=tuple(notes),
    )


def _better(a: FulfillmentPlan, b: FulfillmentPlan, lines: int) -> bool:
    return _score(a.allocations, a.unsourced, lines) > _score(b.allocations, b.unsourced, lines)


def plan_with(
    request: SourcingRequest,
    config: DomConfig,
    strategy: Strategy,
    availability: Availability,
    distances: Mapping[str, float | None] | None = None,
) -> FulfillmentPlan:
    """One strategy, in two passes: all constraints, then without the soft ones."""
    distances = distances if distances is not None else _distances(request, config)
    c = strategy.constraints
    first = _plan(request, config, strategy, c, availability, distances)
    if first.outcome == "fully sourced" or not c.soft:
        return first
    second = _plan(request, config, strategy, c.relaxed(), availability, distances)
    if _better(second, first, len(request.lines)):
        return second.model_copy(update={"relaxed": tuple(sorted(c.soft))})
    return first


def source_order(request: SourcingRequest, config: DomConfig, availability: Availability) -> FulfillmentPlan:
    """The fulfillment plan for ``request``: its strategy (or the default), then the
    alternate strategy if that sources more."""
    names = [request.strategy or config.default_strategy]
    if config.alternate_strategy is not None and config.alternate_strategy not in names:
        names.append(config.alternate_strategy)
    best: FulfillmentPlan | None = None
    distances = _distances(request, config)
    for name in names:
        plan = plan_with(request, config, config.strategy(name), availability, distances)
        if best is None or _better(plan, best, len(request.lines)):
            best = plan
        if best.outcome == "fully sourced":
            break
    assert best is not None
    return best
