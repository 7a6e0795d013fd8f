"""``python -m bench``: every stage on the same 20,000 orders, in one run, side by side.

One run keeps the figures comparable: same broker, same topics, same machine load.
Topics get a unique prefix and are deleted at the end, so runs never see each other.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient

from bench import machine, micro, report
from bench.broker import Broker, acquire
from bench.progress import say
from bench.stages import (
    PROJECTION_NAMES,
    QUIX_GROUP,
    FaustFloor,
    QuixPeer,
    StageResult,
    full_replay,
    parallel_replay,
    projection_one,
    projection_sharded,
    publish,
    read,
    settle,
    write_side,
)
from devkit.scenarios import journey1_orders
from streams.adapters.kafka import admin, create_topics, delete_topics
from streams.bootstrap import Components, bootstrap
from streams.services import shards
from streams.services.projection import PROJECTION_GROUP
from streams.services.writer import WRITER_GROUP
from streams.settings import Settings

EVENTS_PER_ORDER = 10
"""Journey 1: ten commands, each appending one event (``devkit.scenarios.journey1``)."""


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description=(
            "Throughput of the write side, raw consume, consume + Avro decode, full replay and "
            "a per-record Faust agent, in events/s, on the journey-1 events of --orders orders "
            "(10 events each). Uses KAFKA_BOOTSTRAP_SERVERS if it answers, else starts a local "
            "broker on port 29092 (and stops it at the end). Progress goes to stderr, results "
            "to stdout."
        ),
    )
    parser.add_argument("--orders", type=int, default=20_000, help="orders (default 20000)")
    parser.add_argument("--skip-faust", action="store_true", help="leave out the Faust floor")
    parser.add_argument(
        "--skip-quix",
        action="store_true",
        help="leave out the quix-streams peer (installed by make bench-peers)",
    )
    parser.add_argument(
        "--quix-timeout",
        type=float,
        default=300.0,
        help="seconds before the quix-streams peer reports a partial rate (default 300)",
    )
    parser.add_argument(
        "--faust-timeout",
        type=float,
        default=300.0,
        help="seconds before the Faust floor reports a partial rate (default 300)",
    )
    parser.add_argument(
        "--faust-table",
        action="store_true",
        help="also run the floor with the states in a Faust Table (changelogged)",
    )
    parser.add_argument(
        "--faust-store",
        default="rocksdb://",
        help="the Table's store with --faust-table (default rocksdb://; or memory://)",
    )
    parser.add_argument("--write-timeout", type=float, default=600.0, help="seconds the writer may take")
    parser.add_argument(
        "--bootstrap", help="broker to use (default: KAFKA_BOOTSTRAP_SERVERS or 127.0.0.1:9092)"
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="run the writer, the replay and the Faust worker under cProfile and print where the "
        "time goes (the rates are then lower than unprofiled)",
    )
    args = parser.parse_args(argv)
    if args.orders < 1:
        parser.error("--orders must be at least 1")
    return args


def _delete_groups(client: AdminClient, groups: list[str], patience: float = 30.0) -> list[str]:
    """Delete ``groups``; the writer's static member keeps its group non-empty until its
    session times out, so retry that one for a while. Returns the groups left behind."""
    deadline = time.monotonic() + patience
    said = False
    while True:
        waiting = []
        for group, future in client.delete_consumer_groups(groups, request_timeout=30).items():
            try:
                future.result()
            except KafkaException as exc:
                if exc.args[0].code() == KafkaError.NON_EMPTY_GROUP:
                    waiting.append(group)
            except Exception:  # a group that never formed
                pass
        if not waiting or time.monotonic() > deadline:
            return waiting
        if not said:
            say(f"waiting for the static member's session to end before deleting {waiting}")
            said = True
        groups = waiting
        time.sleep(2.0)


def cleanup(components: Components) -> None:
    """Delete this run's topics and consumer groups (all named with its prefix)."""
    settings = components.settings
    prefix = settings.topic_prefix
    try:
        client = admin(settings)
        # quix-streams names its changelog topics after its group: changelog__<group>--...
        names = [
            t
            for t in client.list_topics(timeout=30).topics
            if t.startswith(prefix) or f"{prefix}{QUIX_GROUP}" in t
        ]
        delete_topics(settings, names)
        say(f"deleted {len(names)} topics named {prefix}*; deleting the consumer groups")
        groups = [
            prefix + WRITER_GROUP,
            f"{prefix}faust-floor",
            f"{prefix}faust-floor-table",
            f"{prefix}{QUIX_GROUP}",
            *(f"{prefix}{PROJECTION_GROUP}-{name}" for name in PROJECTION_NAMES),
        ]
        left = _delete_groups(client, groups)
        if left:
            say(f"consumer groups still in use, left behind: {left}")
    except Exception as exc:
        say(f"cleanup failed: {exc}; delete the topics named {prefix}* by hand")


def run(args: argparse.Namespace, broker: Broker, workdir: Path) -> str:
    stamp = time.strftime("%Y%m%d%H%M%S")
    # A snapshot: the Faust worker starts later and must decode with the very same schemas.
    schemas = shutil.copytree(Settings().schemas_dir, workdir / "schemas")
    settings = Settings(
        bootstrap_servers=broker.bootstrap_servers,
        topic_prefix=f"bench{stamp}.",
        partitions=6,
        state_dir=workdir / "state",
        schemas_dir=schemas,
    )
    components = bootstrap(settings)
    facts = machine.facts(broker.version)
    load = facts["load average (1 5 15 min)"]
    say(f"machine: {facts['nproc']} cores, {facts['cpu']}, load {load}")
    stages: list[StageResult] = []
    extras: list[str] = []
    floors: list[FaustFloor] = []
    quix: QuixPeer | None = None
    try:
        components.codec  # noqa: B018 -- built now, from the same tree as the Faust workers
        variants = [] if args.skip_faust else [False, *([True] if args.faust_table else [])]
        floors += [
            FaustFloor(
                components,
                args.orders * EVENTS_PER_ORDER,
                args.orders,
                args.faust_timeout,
                workdir / ("faust-table" if table else "faust"),
                args.faust_store,
                table,
                args.profile,
            )
            for table in variants
        ]
        if not args.skip_quix:
            quix = QuixPeer(
                components, args.orders * EVENTS_PER_ORDER, args.orders, args.quix_timeout, workdir / "quix"
            )
        create_topics(settings, components.topics)
        say(f"created the topics {settings.topic_prefix}* ({settings.partitions} partitions)")
        say(f"generating the journey-1 commands of {args.orders:,} orders")
        commands = [c for order in journey1_orders(args.orders) for c in order]
        expected = len(commands)  # journey 1: every command appends exactly one event
        if expected != args.orders * EVENTS_PER_ORDER:
            raise SystemExit(
                f"journey 1 now has {expected // args.orders} commands per order: update EVENTS_PER_ORDER"
            )

        say(f"1/8 publishing {expected:,} commands")
        stages.append(publish(components, commands))
        del commands

        say("2/8 write side: OrderWriter over the backlog")
        written, join = write_side(components, expected, args.write_timeout, args.profile)
        stages.append(written)
        extras.append(f"writer group join + transaction init + first batch: {join:.2f}s")

        settled = settle(components)
        extras.append(f"last commit markers written {settled:.2f}s after the writer stopped")
        say("3/8 raw consume")
        stages.append(read(components, "raw consume", None, expected))
        say("4/8 consume + Avro decode")
        codec = components.codec
        decoded = read(components, "consume + decode_dict (Avro)", codec.decode_dict, expected)
        stages.append(decoded)
        models = read(components, "consume + decode (models)", codec.decode, expected)
        stages.append(models)
        say("5/8 full replay")
        single = full_replay(components, args.orders, expected, args.profile)
        stages.append(single)
        replayed = parallel_replay(components, args.orders, expected, workers=min(2, os.cpu_count() or 1))
        stages.append(replayed)
        say("6/8 projection (the read side)")
        projected = projection_one(components, args.orders, expected)
        stages.append(projected)
        sharded = projection_sharded(components, args.orders, expected, shards=min(2, os.cpu_count() or 1))
        stages.append(sharded)

        if quix is None:
            say("7/8 quix-streams peer skipped (--skip-quix)")
        else:
            say("7/8 quix-streams peer, in a subprocess of .venv-bench")
            peer, startup = quix.measure()
            stages.append(peer)
            if peer.events:
                extras.append(f"{peer.name}: start-up + group join + recovery {startup:.2f}s")
        if args.skip_faust:
            say("8/8 Faust floor skipped (--skip-faust)")
        for floor in floors:
            say(f"8/8 {floor.name}, in a Faust worker subprocess")
            stage, startup = floor.measure()
            stages.append(stage)
            extras.append(f"{floor.name}: worker startup + group join {startup:.2f}s")
    finally:
        for floor in floors:
            floor.close()
        if quix is not None:
            quix.close()
        cleanup(components)

    targets = [
        report.Target(
            "replay / consume + decode_dict",
            replayed.rate / decoded.rate if decoded.rate else 0.0,
            report.REPLAY_TARGET,
            "x",
        ),
        report.Target(
            "projection (sharded) / consume + decode_dict",
            sharded.rate / decoded.rate if decoded.rate else 0.0,
            report.PROJECTION_TARGET,
            "x",
        ),
        report.Target("write side", written.rate, report.WRITE_TARGET, " events/s"),
    ]
    peers = _peers(stages, single, written, targets)
    if models.rate:
        extras.append(f"replay / consume + decode (models): {replayed.rate / models.rate:.2f}x")
    if decoded.rate:
        extras.append(f"single-process replay / consume + decode_dict: {single.rate / decoded.rate:.2f}x")
        extras.append(
            f"single-process projection / consume + decode_dict: {projected.rate / decoded.rate:.2f}x"
        )
    costs: list[str] = []
    if args.profile:
        extras.append("PROFILED RUN: the rates are lower than in an unprofiled run")
        say("measuring the per-event cost of each step in memory")
        costs = micro.step_costs(components)
    command = "python -m bench " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    return report.render(
        facts, command, stages, decoded, extras, targets, machine.load_average(), costs, peers
    )


def _peers(
    stages: list[StageResult], single: StageResult, written: StageResult, targets: list[report.Target]
) -> list[str]:
    """The peers table, and the per-CPU targets against quix-streams when it ran."""
    quix = next((s for s in stages if s.name == QuixPeer.name and s.events), None)
    floors = [s for s in stages if s.name.startswith("faust floor")]
    peers = [p for p in (quix, *floors) if p is not None]
    if not peers:
        return []
    rows = report.peer_table([single, written, *peers], quix)
    rows.append("  (the write side decides and appends, the others fold: its row is for the target only)")
    if quix is not None:
        for what, stage in (("replay", single), ("write side", written)):
            measured = report.ratio(report.per_cpu(stage), report.per_cpu(quix)) or 0.0
            targets.append(
                report.Target(f"{what} / quix-streams, per CPU-second", measured, report.PEER_TARGET, "x")
            )
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(argv)
    # The sharded stages' workers fork from it, as `oms replay` forks its own: started
    # before any thread, its interpreter start stays out of the timed stages.
    shards.warm_up()
    broker = acquire(args.bootstrap)
    workdir = Path(tempfile.mkdtemp(prefix="oms-bench-"))
    try:
        text = run(args, broker, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
        broker.stop()
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
