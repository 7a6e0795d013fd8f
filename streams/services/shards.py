"""Reading the event topics in shards: a share of the partitions per process.

Every order topic is keyed by order id with the same partition count, so an order lives in
exactly one partition number, across all topics; a share of the partition numbers can be
folded apart from the others, and no state of one share ever meets another's. Shard ``i``
of ``n`` owns the partitions ``p`` with ``p % n == i`` (``range(partitions)[i::n]``), so
``partition_for(order_id, partitions) % n`` names the shard of an order.

A fold in one process is CPU-bound on Avro decode, pydantic and the merge (see
BENCHMARKS.md), so the replay and the projection's rebuild fan out to one process per
shard (``in_processes``) rather than to threads.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.forkserver
import queue
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from streams.adapters.avro import AvroCodec
from streams.adapters.kafka import partition_for
from streams.adapters.topics import TopicRegistry
from streams.settings import Settings

T = TypeVar("T")


@dataclass(frozen=True)
class Shard:
    """Shard ``index`` of ``count``: the partitions ``p`` with ``p % count == index``."""

    index: int
    count: int

    def __post_init__(self) -> None:
        if not 0 <= self.index < self.count:
            raise ValueError(f"shard {self.index} of {self.count} does not exist")

    def partitions(self, total: int) -> list[int]:
        return list(range(total))[self.index :: self.count]

    def owns(self, partition: int) -> bool:
        return partition % self.count == self.index

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def shards(count: int) -> list[Shard]:
    return [Shard(i, count) for i in range(count)]


def shard_of(order_id: str, partitions: int, count: int) -> int:
    """The shard that holds ``order_id`` (the shard of its partition)."""
    return partition_for(order_id, partitions) % count


class Wiring(Protocol):
    @property
    def topics(self) -> TopicRegistry: ...

    @property
    def codec(self) -> AvroCodec: ...


Job = Callable[[Settings, Shard, Callable[[int], None], Wiring], T]
"""A shard's work in its process: (settings, shard, report events read, wiring) -> a
result (picklable: it goes back over a queue). A module-level function, or a
``functools.partial`` of one, so a spawned process can import it."""


class Interrupted(RuntimeError):
    """``stop`` was set: the workers were terminated before they finished."""


def _work(job: Job[T], settings: Settings, shard: Shard, counter: Any, results: Any, wire: Any) -> None:
    """A worker process: ``job`` on ``shard``, its result (or its error) on ``results``."""

    def report(events: int) -> None:
        counter.value = events

    # A forked worker inherits the parent's handlers: the parent alone decides to stop
    # (Ctrl-C reaches the whole process group) and then terminates its workers.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    try:
        results.put((shard.index, job(settings, shard, report, wire(settings))))
    except BaseException as exc:
        results.put((shard.index, RuntimeError(f"shard {shard} failed: {exc!r}")))
        raise


PRELOAD = ["streams.bootstrap", "streams.services.replay", "streams.services.projection"]
"""What the fork server imports once, so that its workers start with it imported."""


def _context(fork: bool) -> Any:
    """Fork starts a worker in milliseconds, but is unsafe once threads run (a Kafka
    client's, say) and for a job that opens RocksDB (``fork=False``); then the fork server:
    a single-threaded process of its own that forks the workers. Its own start (a fresh
    interpreter's imports, ~1 s) is paid once, by its first use or by ``warm_up``."""
    if fork:
        return multiprocessing.get_context("fork")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(PRELOAD)
    return context


def warm_up() -> None:
    """Start the fork server now, before any thread and any timed work of a caller that
    fans out later (the benchmark's sharded stages)."""
    _context(fork=False)
    multiprocessing.forkserver.ensure_running()


def in_processes(
    job: Job[T],
    settings: Settings,
    count: int,
    wire: Callable[[Settings], Wiring],
    progress: Callable[[int, float], None] | None = None,
    stop: threading.Event | None = None,
    fork: bool = True,
) -> list[T]:
    """``job`` on each of ``count`` shards, each in its own process; the results by shard.

    ``wire`` (a module-level function, e.g. the composition root) builds each worker's
    topics and codec; ``progress`` hears (events read by all, seconds) twice a second.
    ``fork=False`` for a job that opens RocksDB: a forked child inherits RocksDB's
    process-wide thread pool without its threads, and its first flush waits forever.
    """
    began = time.monotonic()
    context = _context(fork and threading.active_count() == 1)
    results = context.Queue()
    counters = [context.Value("q", 0) for _ in range(count)]
    processes = [
        context.Process(target=_work, args=(job, settings, shard, counter, results, wire), daemon=True)
        for shard, counter in zip(shards(count), counters, strict=True)
    ]
    for process in processes:
        process.start()
    done: dict[int, T] = {}
    try:
        while len(done) < count:
            if stop is not None and stop.is_set():
                raise Interrupted(f"stopped with {count - len(done)} of {count} shards unfinished")
            try:
                index, outcome = results.get(timeout=0.5)
            except queue.Empty:
                if not any(p.is_alive() for p in processes) and results.empty():
                    raise RuntimeError("a shard's worker died without a result") from None
                if progress is not None:
                    progress(sum(c.value for c in counters), time.monotonic() - began)
                continue
            if isinstance(outcome, Exception):
                raise outcome
            done[index] = outcome
    finally:
        for process in processes:  # a worker left when the others failed or we stopped: end it
            process.join(5 if len(done) == count else 0)
            if process.is_alive():
                process.terminate()
                process.join(5)
    return [done[i] for i in range(count)]
