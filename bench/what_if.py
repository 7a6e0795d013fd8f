"""What-if at scale: 10,000 recorded orders replayed through a draft flow.

``python -m bench.what_if [--orders 10000]`` records a history first: orders of the six
journeys decided by the writer's own ``process()`` with the shipped flows, answered by
the stand-in providers (``devkit.fake_providers``; F&O refuses the first 1,000 sends, so
those orders needed a retry), and appended to the event topics of a fresh topic prefix
on a real broker. Then it runs what ``oms what-if`` runs (read every event topic, pick the
orders, replay them through a draft of journey 1 that allows no retry) and reports the
time taken, reading and replaying apart.
"""

from __future__ import annotations

import argparse
import random
import time
import uuid
from collections import deque
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from confluent_kafka import Producer

from devkit.fake_providers import FakeProviders
from devkit.scenarios import CommandFactory, journey_order
from streams.adapters.flow_definitions import publish_flows
from streams.adapters.flow_files import flow_paths, load_flows
from streams.adapters.kafka import create_topics, delete_topics, partition_for, producer_config
from streams.bootstrap import Components, bootstrap
from streams.domain.commands import Command, ProviderActionRequest
from streams.domain.events import Event, ProviderActionReleased, ProviderActionRequested
from streams.domain.flows import Flow, FlowCatalog
from streams.domain.orchestration import FlowEngine, process
from streams.domain.order import OrderState
from streams.services.what_if import run_what_if
from streams.settings import REPO_ROOT, Settings


def _request(
    event: ProviderActionRequested | ProviderActionReleased, state: OrderState
) -> ProviderActionRequest | None:
    pending = state.pending(event.action_id)
    if pending is None:
        return None
    fields = {
        n: getattr(pending, n)
        for n in ("action_id", "provider", "action", "step", "attempt", "params", "not_before", "deadline")
    }
    return ProviderActionRequest(
        order_id=state.order_id,
        correlation_id=event.envelope.correlation_id,
        order=state.snapshot(),
        **fields,
    )


def record(c: Components, flows: list[Flow], orders: int) -> int:
    """Decide ``orders`` journeys in memory and append their events; returns the events."""
    engine = FlowEngine(FlowCatalog(f.model_copy(update={"version": 1}) for f in flows))
    fakes = FakeProviders(c.settings, c.topics, c.codec, failures={("fno", "send_to_fulfillment"): 1000})
    factory = CommandFactory(
        source="bench", start=datetime.now(UTC) - timedelta(days=1), step=timedelta(milliseconds=5)
    )
    producer = Producer(
        producer_config(c.settings, **{"linger.ms": 50, "queue.buffering.max.messages": 1_000_000})
    )
    rng, written = random.Random(13), 0
    for n in range(orders):
        order_id = f"WI-{n:06d}"
        queue: deque[Command] = deque([journey_order(n % 5 + 1, factory, order_id, rng, ref=n)])
        state: OrderState | None = None
        events: list[Event] = []
        while queue:
            outcome = process(queue.popleft(), state, engine, c.transitions)
            state = outcome.state
            events += outcome.events
            for event in outcome.events:
                if isinstance(event, ProviderActionRequested | ProviderActionReleased) and state is not None:
                    request = _request(event, state)
                    queue.extend(fakes.answer(request) if request is not None else ())
        partition = partition_for(order_id, c.topics.partitions)
        for event in events:
            while True:
                try:
                    producer.produce(
                        c.topics.event_topic(type(event)),
                        key=order_id.encode(),
                        value=c.codec.encode(event),
                        partition=partition,
                    )
                    break
                except BufferError:
                    producer.poll(0.1)
        written += len(events)
        producer.poll(0)
    producer.flush(120)
    return written


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.what_if", description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=10_000)
    parser.add_argument("--keep", action="store_true", help="keep the bench's topics")
    args = parser.parse_args(argv)
    base = Settings.from_env()
    settings = base.model_copy(update={"topic_prefix": f"bench-whatif-{uuid.uuid4().hex[:6]}."})
    c = bootstrap(settings)
    create_topics(settings, c.topics)
    folder = REPO_ROOT / "flows"
    flows = load_flows(folder)
    publish_flows(
        settings, c.topics, c.codec, [(f, p.name) for f, p in zip(flows, flow_paths(folder), strict=True)]
    )
    try:
        began = time.monotonic()
        events = record(c, flows, args.orders)
        print(f"recorded {args.orders:,} orders ({events:,} events) in {time.monotonic() - began:.1f}s")
        journey1 = next(f for f in flows if f.name == "bigcommerce-fno")
        steps = tuple(
            s.model_copy(update={"max_retries": 0}) if s.id == "send-to-fno" else s for s in journey1.steps
        )
        draft = journey1.model_copy(update={"steps": steps})
        since = datetime.now(UTC) - timedelta(days=2)
        run = run_what_if(settings, c.topics, c.codec, draft, since, table=c.transitions)
        total = run.read_seconds + run.replay_seconds
        print(
            f"what-if over {len(run.report.orders):,} orders: {total:.1f}s "
            f"(read {run.read_seconds:.1f}s, replay {run.replay_seconds:.1f}s, "
            f"{len(run.report.orders) / run.replay_seconds:,.0f} orders/s replayed); "
            f"{len(run.report.changed):,} would change"
        )
        for how, n in run.report.summary():
            print(f"  {how:<60} {n:>7,}")
    finally:
        if not args.keep:
            delete_topics(settings, [c.topics.topic(s.name) for s in c.topics.specs()])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
