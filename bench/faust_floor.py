"""The Faust floor: a plain per-record Faust agent doing the replay's work (decode + fold).

It runs in its own process (``python -m bench.faust_floor ...``, started by the
benchmark) so Faust's event loop, signal handlers and logging stay out of the other
stages. It prints one ``BENCH-RESULT {json}`` line on stdout and progress on stderr.
The clock starts at the first record, so startup and the group join are reported apart.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pickle
import signal
import sys
import time
from collections.abc import Iterator, MutableMapping, Sequence
from importlib.metadata import version
from pathlib import Path
from typing import Any

import faust

from bench.child import DONE, components_of, result_line
from bench.profiling import FAUST_STEPS, breakdown
from streams.adapters.avro import UndecodableRecord
from streams.bootstrap import Components
from streams.domain.events import Event
from streams.domain.history import OrderHistories
from streams.domain.order import OrderState

_BEGAN = [time.monotonic()]
"""When the benchmark said go: startup and the timeout count from there."""


def _say(message: str) -> None:
    print(f"[faust-floor] {message}", file=sys.stderr, flush=True)


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.faust_floor", description=__doc__)
    parser.add_argument("--bootstrap", required=True, help="Kafka bootstrap servers")
    parser.add_argument("--prefix", required=True, help="topic prefix of the benchmark run")
    parser.add_argument("--partitions", type=int, default=6)
    parser.add_argument("--topics", required=True, help="comma-separated event topics")
    parser.add_argument("--schemas-dir", type=Path, required=True, help="the run's schemas")
    parser.add_argument("--expected", type=int, required=True, help="events to fold")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds, startup included")
    parser.add_argument("--app-id", required=True, help="unique per run: it is the group id")
    parser.add_argument("--datadir", type=Path, required=True)
    parser.add_argument("--store", default="memory://", help="table store (with --table)")
    parser.add_argument("--table", action="store_true", help="keep states in a Faust Table")
    parser.add_argument("--profile", action="store_true", help="cProfile the whole worker")
    return parser.parse_args(argv)


class Tally:
    def __init__(self) -> None:
        self.folded = 0
        """Records taken from the stream, undecodable ones included (as the replay counts)."""
        self.undecodable = 0
        self.first: float | None = None
        self.first_cpu = 0.0
        self.last = 0.0
        self.last_cpu = 0.0
        self.finished = False
        self.error: str | None = None


class TableStates(MutableMapping[str, OrderState]):
    """Order states in a Faust Table. Faust serializes table values by their declared type
    only (JSON unless bytes or a faust Record), so states go in pickled: every read
    unpickles, every write pickles and appends to the changelog, as a table-backed
    agent would pay."""

    def __init__(self, table: MutableMapping[str, bytes]) -> None:
        self._table = table

    def __getitem__(self, order_id: str) -> OrderState:
        state: OrderState = pickle.loads(self._table[order_id])
        return state

    def __setitem__(self, order_id: str, state: OrderState) -> None:
        self._table[order_id] = pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL)

    def __delitem__(self, order_id: str) -> None:
        del self._table[order_id]

    def __iter__(self) -> Iterator[str]:
        return iter(self._table)

    def __len__(self) -> int:
        return len(self._table)

    def all_states(self) -> Iterator[OrderState]:
        """Every state, read store by store (a key lookup outside an event needs its partition)."""
        for raw in self._table.values():
            state: OrderState = pickle.loads(raw)
            yield state


def main(argv: Sequence[str] | None = None) -> None:
    args = parse(argv)
    profiler = cProfile.Profile() if args.profile else None
    components: Components = components_of(args)
    decode = components.codec.decode
    app = faust.App(
        args.app_id,
        broker=[f"kafka://{server}" for server in args.bootstrap.split(",")],
        store=args.store,
        topic_partitions=args.partitions,
        key_serializer="raw",
        value_serializer="raw",
        consumer_auto_offset_reset="earliest",
        web_enabled=False,
        datadir=str(args.datadir),
    )
    states: MutableMapping[str, OrderState]
    if args.table:
        table = app.Table("orders", partitions=args.partitions, value_type=bytes)
        states = TableStates(table)
    else:
        states = {}
    histories = OrderHistories(states)
    tally = Tally()
    source = app.topic(*args.topics.split(","), key_serializer="raw", value_serializer="raw")

    def finish(timed_out: bool) -> None:
        if tally.finished:
            return
        tally.finished = True
        if profiler is not None:
            profiler.disable()
        try:
            found = list(states.all_states() if isinstance(states, TableStates) else states.values())
            done = sum(1 for s in found if (s.status, s.status_reason) == DONE)
            orders = len(found)
        except Exception as exc:  # the result line must come out whatever happens
            tally.error = tally.error or f"counting the states: {type(exc).__name__}: {exc}"
            done = orders = -1
        seconds = tally.last - tally.first if tally.first is not None else 0.0
        result: dict[str, Any] = {
            "events": max(tally.folded - 1, 0),
            "seconds": seconds,
            "cpu": (tally.last_cpu or time.process_time()) - tally.first_cpu,
            "folded": tally.folded,
            "orders": orders,
            "done": done,
            "held": histories.held,
            "undecodable": tally.undecodable,
            "timed_out": timed_out,
            "error": tally.error,
            "startup_seconds": (tally.first or time.monotonic()) - _BEGAN[0],
            "faust": version("faust-streaming"),
            "aiokafka": version("aiokafka"),
            "profile": breakdown(profiler, FAUST_STEPS).lines() if profiler is not None else [],
        }
        print(result_line(result), file=sys.__stdout__, flush=True)
        os.kill(os.getpid(), signal.SIGTERM)  # the worker's own graceful shutdown

    @app.agent(source)
    async def fold(stream: faust.StreamT[bytes]) -> None:
        """Per record, as a Faust agent is written: decode, fold, next."""
        async for value in stream:
            if tally.first is None:
                tally.first, tally.first_cpu = time.monotonic(), time.process_time()
                _say(f"first record after {tally.first - _BEGAN[0]:.1f}s (startup + group join)")
                if profiler is not None:
                    profiler.enable()  # this thread only: aiokafka's fetcher thread is left out
            tally.folded += 1
            try:
                event: Event = decode(value)  # type: ignore[assignment]
            except UndecodableRecord:
                tally.undecodable += 1
            else:
                try:
                    histories.add(event)
                except Exception as exc:  # Faust would restart the agent, record by record
                    tally.error = f"{type(exc).__name__}: {exc}"[:500]
                    tally.last = time.monotonic()
                    finish(timed_out=False)
                    raise
            tally.last = time.monotonic()
            if tally.folded >= args.expected:
                tally.last_cpu = time.process_time()
                finish(timed_out=False)

    last_report = [time.monotonic()]

    async def watch() -> None:
        now = time.monotonic()
        if now - _BEGAN[0] > args.timeout:
            _say(f"timeout after {args.timeout:.0f}s with {tally.folded:,} events folded")
            finish(timed_out=True)
        elif now - last_report[0] >= 5.0 and tally.first is not None:
            last_report[0] = now
            rate = tally.folded / max(now - tally.first, 1e-9)
            _say(f"{tally.folded:,} / {args.expected:,} events folded, {rate:,.0f}/s")

    app.timer(interval=1.0)(watch)
    worker = faust.Worker(app, loglevel="WARNING", quiet=True, redirect_stdouts=False)
    if sys.stdin.readline().strip() != "go":  # EOF: the benchmark ended before this stage
        return
    _BEGAN[0] = time.monotonic()
    worker.execute_from_commandline()


if __name__ == "__main__":
    main()
