"""The projection's RocksDB: views, events, index entries, offsets and counters, and the
one atomic write (``Commit``) a batch makes.

The store is a cache of the event topics (always rebuildable) whose key layout lets the
read side list orders by status, reason, provider or external reference without a scan.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from rocksdict import Options, Rdict, WriteBatch

from streams.domain.order import OrderState

# -- the store's key layout (raw bytes; ``\0`` separates parts, order ids sort as bytes)
_SEP = b"\x00"
_VIEW = b"v/"  # v/<order>                      -> OrderState JSON
_EVENT = b"e/"  # e/<order>\0<seq:010>            -> <topic>\0<record value>
_INDEX = b"i/"  # i/<index>/<value>\0<order>       -> b""
_OFFSET = b"o/"  # o/<topic>\0<partition>          -> offset to resume from
_READ = b"r/"  # r/<topic>\0<partition>          -> next offset read
_META = b"m/"  # m/<name>                         -> JSON

ALL_ORDERS = _VIEW
"""The prefix of every order's view: ``order_ids(ALL_ORDERS)`` lists them all."""

INDEX_STATUS = "st"
INDEX_REASON = "rs"
INDEX_STATUS_REASON = "sr"
INDEX_PROVIDER = "pv"
INDEX_REF = "xr"  # system:ref
INDEX_BARE_REF = "xi"  # ref, in any system


def _seq_key(prefix: bytes, order_id: str, seq: int) -> bytes:
    return prefix + order_id.encode() + _SEP + b"%010d" % seq


def index_prefix(index: str, value: str) -> bytes:
    return _INDEX + index.encode() + b"/" + value.encode() + _SEP


Entry = tuple[str, str]
"""An index entry of an order: (index, value); its key is ``index_prefix(...) + order id``."""


def _entries(state: OrderState | None) -> set[Entry]:
    if state is None:
        return set()
    status, reason = state.status, state.status_reason
    entries = {(INDEX_STATUS, status), (INDEX_REASON, reason), (INDEX_STATUS_REASON, f"{status}\0{reason}")}
    if state.fulfillment_provider:
        entries.add((INDEX_PROVIDER, state.fulfillment_provider))
    for ref in state.external_refs:
        entries.add((INDEX_REF, f"{ref.system}:{ref.ref}"))
        entries.add((INDEX_BARE_REF, ref.ref))
    return entries


_serialize = OrderState.__pydantic_serializer__.to_json


def _dump_view(state: OrderState) -> bytes:
    """The view's JSON without the fields at their defaults: half the bytes (a journey-1
    order's ~1.8 KB), and every batch rewrites the view of each order it changed, so the
    store's writes and compactions shrink with it. ``view`` reads the defaults back (and a
    view written whole, by an earlier version, reads the same)."""
    return _serialize(state, exclude_defaults=True)


@dataclass
class Commit:
    """Everything one batch changes, written in one atomic ``WriteBatch``."""

    views: dict[str, tuple[OrderState | None, OrderState]] = field(default_factory=dict)
    """order id -> (state before the batch, state after it)."""
    events: list[tuple[str, int, str, bytes]] = field(default_factory=list)
    offsets: dict[tuple[str, int], int] = field(default_factory=dict)
    """Where to resume each partition: the next offset read, or an early arrival held."""
    read: dict[tuple[str, int], int] = field(default_factory=dict)
    meta: dict[str, object] = field(default_factory=dict)


class ProjectionStore:
    """The projection's RocksDB: views, events, indexes, offsets and counters."""

    def __init__(self, path: Path) -> None:
        path.mkdir(parents=True, exist_ok=True)
        self.path = path
        options = Options(raw_mode=True)
        options.create_if_missing(True)
        self._db = Rdict(str(path), options)

    @staticmethod
    def destroy(path: Path) -> None:
        """Delete the store at ``path`` (it is a cache of the topics: rebuildable)."""
        if path.exists():
            Rdict.destroy(str(path), Options(raw_mode=True))

    def close(self) -> None:
        self._db.close()

    # -- reads (any thread)
    def view(self, order_id: str) -> OrderState | None:
        raw = self._db.get(_VIEW + order_id.encode())
        return OrderState.model_validate_json(raw) if raw is not None else None

    def _prefixed(self, prefix: bytes, start: bytes | None = None) -> Iterator[tuple[bytes, bytes]]:
        it = self._db.iter()
        it.seek(start if start is not None else prefix)
        while it.valid():
            key: bytes = it.key()
            if not key.startswith(prefix):
                return
            yield key[len(prefix) :], it.value()
            it.next()

    def events(self, order_id: str) -> list[tuple[str, bytes]]:
        """(topic, record value) of the order's events, in seq order."""
        prefix = _EVENT + order_id.encode() + _SEP
        return [_split(value) for _, value in self._prefixed(prefix)]

    def order_ids(self, prefix: bytes, after: str | None = None) -> Iterator[str]:
        """Order ids under an index prefix (or ``_VIEW``), ascending, strictly after ``after``."""
        start = prefix + after.encode() + _SEP if after is not None else None
        for rest, _ in self._prefixed(prefix, start):
            yield rest.decode()

    def status_reason_counts(self) -> Counter[tuple[str, str]]:
        counts: Counter[tuple[str, str]] = Counter()
        for rest, _ in self._prefixed(_INDEX + INDEX_STATUS_REASON.encode() + b"/"):
            status, reason, _oid = rest.split(_SEP, 2)
            counts[(status.decode(), reason.decode())] += 1
        return counts

    def offsets(self, read: bool = False) -> dict[tuple[str, int], int]:
        """Where to resume each partition (``read``: the next offset read before)."""
        out = {}
        for rest, value in self._prefixed(_READ if read else _OFFSET):
            topic, partition = rest.split(_SEP)
            out[(topic.decode(), int(partition))] = int(value)
        return out

    def meta(self, name: str) -> object:
        raw = self._db.get(_META + name.encode())
        return json.loads(raw) if raw is not None else None

    # -- the one write
    def commit(self, c: Commit) -> None:
        batch = WriteBatch(raw_mode=True)
        for order_id, (before, after) in c.views.items():
            _put_view(batch, order_id.encode(), before, after)
        topics: dict[str, bytes] = {}
        for order_id, seq, topic, value in c.events:
            head = topics.get(topic)
            if head is None:
                head = topics[topic] = topic.encode() + _SEP
            batch.put(_seq_key(_EVENT, order_id, seq), head + value)
        for (topic, partition), offset in c.offsets.items():
            batch.put(_OFFSET + topic.encode() + _SEP + str(partition).encode(), b"%d" % offset)
        for (topic, partition), offset in c.read.items():
            batch.put(_READ + topic.encode() + _SEP + str(partition).encode(), b"%d" % offset)
        for name, data in c.meta.items():
            batch.put(_META + name.encode(), json.dumps(data).encode())
        self._db.write(batch)


def _put_view(batch: WriteBatch, oid: bytes, before: OrderState | None, after: OrderState) -> None:
    """The view, and the index keys of the entries that changed: the entries are diffed and
    only those keys built (a fold mostly moves an order's status and reason, not the rest)."""
    batch.put(_VIEW + oid, _dump_view(after))
    old, new = _entries(before), _entries(after)
    for index, value in old - new:
        batch.delete(index_prefix(index, value) + oid)
    for index, value in new - old:
        batch.put(index_prefix(index, value) + oid, b"")


def _split(value: bytes) -> tuple[str, bytes]:
    topic, record = value.split(_SEP, 1)
    return topic.decode(), record
