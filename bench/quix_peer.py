"""The quix-streams peer: the replay's fold as a quix-streams 3.x user would write it.

One ``StreamingDataFrame`` over every event topic (one dataframe per topic, concatenated),
one stateful ``update`` per record: decode with the project's codec, fold with the
project's merge by seq (``OrderHistories``) into the order's state in quix's RocksDB
state store (changelogged, as quix keeps state by default). A state goes in as
``model_dump(mode="json")`` and comes out through ``model_validate``: quix serializes
state values as JSON. Early arrivals wait in the merge's memory, as in the replay.

quix-streams pins older confluent-kafka and pydantic than the project, so it lives in
``.venv-bench`` (``make bench-peers``) and this stage runs there as a subprocess
(``python -m bench.quix_peer ...``, started by ``python -m bench``), printing one
``BENCH-RESULT {json}`` line. The clock runs from the first record to the last, so
start-up, the group join and state recovery are reported apart; CPU is the child's own
(``time.process_time``: every thread, librdkafka's included) over the same window.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import json
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator, MutableMapping, Sequence
from importlib.metadata import version
from pathlib import Path
from typing import Any

from bench.child import DONE, components_of, result_line
from streams.adapters.avro import AvroCodec, UndecodableRecord
from streams.bootstrap import Components
from streams.domain.history import OrderHistories
from streams.domain.order import OrderState

TAG = "quix-peer"
_STATE_KEY = "order"
"""The one state key under each message key (the order id)."""
_BEGAN = [time.monotonic()]
"""When the benchmark said go: start-up and the timeout count from there."""


def _say(message: str) -> None:
    print(f"[{TAG}] {message}", file=sys.stderr, flush=True)


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.quix_peer",
        description="The replay's fold (decode + merge by seq + fold) as a quix-streams "
        "StreamingDataFrame with RocksDB state, over every event topic of a benchmark run. "
        "Started by `python -m bench` in .venv-bench (`make bench-peers`); it waits for `go` "
        "on stdin and prints one BENCH-RESULT line.",
    )
    parser.add_argument("--bootstrap", required=True, help="Kafka bootstrap servers")
    parser.add_argument("--prefix", required=True, help="topic prefix of the benchmark run")
    parser.add_argument("--partitions", type=int, default=6, help="partitions of each topic")
    parser.add_argument("--topics", required=True, help="comma-separated event topics")
    parser.add_argument("--schemas-dir", type=Path, required=True, help="the run's schemas")
    parser.add_argument("--expected", type=int, required=True, help="events to fold")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds, start-up included")
    parser.add_argument("--group", required=True, help="consumer group, unique per run")
    parser.add_argument("--datadir", type=Path, required=True, help="quix's state directory")
    parser.add_argument(
        "--consumer-config", default="{}", help="JSON of extra consumer settings (the replay's fetch sizes)"
    )
    parser.add_argument(
        "--no-changelog", action="store_true", help="state without changelog topics (not quix's default)"
    )
    return parser.parse_args(argv)


class RecordStates(MutableMapping[str, OrderState]):
    """The merge's view of quix state: the state of the record being processed, whose key is
    its order id (every event topic is keyed by order id, so the merge asks for no other)."""

    state: Any = None
    """quix's ``State`` of the current record, set before each fold."""

    def __getitem__(self, order_id: str) -> OrderState:
        found = self.get(order_id)
        if found is None:
            raise KeyError(order_id)
        return found

    def get(self, order_id: str, default: OrderState | None = None) -> OrderState | None:  # type: ignore[override]
        raw = self.state.get(_STATE_KEY)
        return OrderState.model_validate(raw) if raw is not None else default

    def __setitem__(self, order_id: str, state: OrderState) -> None:
        self.state.set(_STATE_KEY, state.model_dump(mode="json"))

    def __delitem__(self, order_id: str) -> None:
        raise NotImplementedError("orders are never deleted")

    def __iter__(self) -> Iterator[str]:
        raise NotImplementedError("quix state is read per key")

    def __len__(self) -> int:
        raise NotImplementedError("quix state is read per key")


class Fold:
    """The stateful update: counts, clocks and the statuses it leaves (to check the result)."""

    def __init__(self, codec: AvroCodec, expected: int) -> None:
        self.decode = codec.decode
        self.states = RecordStates()
        self.histories = OrderHistories(self.states, on_applied=self._applied)
        self.expected = expected
        self.stop: Callable[[], None] = lambda: None
        """The app's ``stop``, once it is built."""
        self.folded = 0
        self.undecodable = 0
        self.first: float | None = None
        self.first_cpu = 0.0
        self.last = 0.0
        self.last_cpu = 0.0
        self.statuses: dict[str, tuple[str, str]] = {}
        self.error: str | None = None
        self.timed_out = False

    def __call__(self, value: bytes, state: Any) -> None:
        """Per record, as a quix-streams update is written: decode, fold into the key's state."""
        if self.first is None:
            self.first, self.first_cpu = time.monotonic(), time.process_time()
            _say(f"first record after {self.first - _BEGAN[0]:.1f}s (start-up, group join, recovery)")
        self.folded += 1
        try:
            event = self.decode(value)
        except UndecodableRecord:
            self.undecodable += 1
        else:
            self.states.state = state
            self.histories.add(event)  # type: ignore[arg-type]
        self.last = time.monotonic()
        if self.folded >= self.expected:
            self.last_cpu = time.process_time()
            self.stop()

    def _applied(self, event: object, state: OrderState, origin: object) -> None:
        self.statuses[state.order_id] = (state.status, state.status_reason)

    def watch(self, timeout: float, finished: threading.Event) -> None:
        """Progress every 5 s; stop at the timeout (the rate then covers what was folded)."""
        while not finished.wait(5.0):
            if time.monotonic() - _BEGAN[0] > timeout:
                _say(f"timeout after {timeout:.0f}s with {self.folded:,} events folded")
                self.timed_out = True
                self.last_cpu = time.process_time()
                self.stop()
                return
            if self.first is not None:
                rate = self.folded / max(time.monotonic() - self.first, 1e-9)
                _say(f"{self.folded:,} / {self.expected:,} events folded, {rate:,.0f}/s")

    def outcome(self) -> dict[str, Any]:
        return {
            "events": max(self.folded - 1, 0),
            "seconds": self.last - self.first if self.first is not None else 0.0,
            "cpu": (self.last_cpu or time.process_time()) - self.first_cpu,
            "folded": self.folded,
            "orders": len(self.statuses),
            "done": sum(1 for s in self.statuses.values() if s == DONE),
            "held": self.histories.held,
            "undecodable": self.undecodable,
            "timed_out": self.timed_out,
            "error": self.error,
            "startup_seconds": (self.first or time.monotonic()) - _BEGAN[0],
            "quixstreams": version("quixstreams"),
            "confluent_kafka": version("confluent-kafka"),
            "pydantic": version("pydantic"),
        }


def short_stream_id(names: Sequence[str]) -> str:
    """A stream id that fits a topic name: quix names a concatenated dataframe's state (its
    changelog topic) after every source topic, which for 32 event topics passes Kafka's
    255 characters (``TopicNameLengthExceeded``)."""
    digest = hashlib.sha1("|".join(sorted(names)).encode()).hexdigest()[:12]
    return f"events-{len(names)}-{digest}"


def _topic_manager(args: argparse.Namespace) -> Any:
    """quix's own TopicManager (a public ``Application`` argument) with short stream ids."""
    from quixstreams.models.topics import TopicAdmin, TopicManager

    class ShortStreamIds(TopicManager):  # type: ignore[misc]
        def stream_id_from_topics(self, topics: Sequence[Any]) -> str:
            return short_stream_id([t.name for t in topics])

    return ShortStreamIds(topic_admin=TopicAdmin(broker_address=args.bootstrap), consumer_group=args.group)


def _application(args: argparse.Namespace, fold: Fold, attempts: int = 5) -> Any:
    """The app and its dataframe, built once the run's topics exist (after ``go``). quix
    creates its changelog topic and reads it back at once; a broker that does not list a
    just-created topic yet makes that a ``TopicNotFoundError``, so the build is tried again."""
    from quixstreams import Application
    from quixstreams.models.topics.exceptions import TopicNotFoundError

    for attempt in range(1, attempts + 1):
        app = Application(
            broker_address=args.bootstrap,
            consumer_group=args.group,
            auto_offset_reset="earliest",
            state_dir=str(args.datadir),
            consumer_extra_config=json.loads(args.consumer_config),
            loglevel=os.environ.get("QUIX_PEER_LOGLEVEL", "WARNING"),
            use_changelog_topics=not args.no_changelog,
            topic_manager=_topic_manager(args),
        )
        try:
            frames = [
                app.dataframe(app.topic(name, key_deserializer="str", value_deserializer="bytes"))
                for name in args.topics.split(",")
            ]
            functools.reduce(lambda a, b: a.concat(b), frames).update(fold, stateful=True)
        except TopicNotFoundError as exc:
            if attempt == attempts:
                raise
            _say(f"{exc}; building the app again ({attempt}/{attempts})")
            time.sleep(1.0)
            continue
        fold.stop = app.stop
        return app
    raise AssertionError("unreachable")


def main(argv: Sequence[str] | None = None) -> None:
    args = parse(argv)
    import quixstreams  # noqa: F401 -- imported now, with the run's tree, like the rest

    components: Components = components_of(args)
    fold = Fold(components.codec, args.expected)
    if sys.stdin.readline().strip() != "go":  # EOF: the benchmark ended before this stage
        return
    _BEGAN[0] = time.monotonic()
    finished = threading.Event()
    threading.Thread(target=fold.watch, args=(args.timeout, finished), daemon=True).start()
    try:
        _application(args, fold).run()
    except Exception as exc:  # the result line must come out whatever happens
        fold.error = f"{type(exc).__name__}: {exc}"[:500]
    finished.set()
    print(result_line(fold.outcome()), file=sys.__stdout__, flush=True)


if __name__ == "__main__":
    main()
