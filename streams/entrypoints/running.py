"""Running commands and processes: a broker that answers first, and a writer until stopped."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from streams.adapters import kafka_loop
from streams.adapters.state_store import StateStore
from streams.bootstrap import Components, bootstrap
from streams.services.transactional import TransactionalWriter
from streams.shell import metrics
from streams.shell.commands import CommandFailed
from streams.shell.process import check_broker
from streams.shell.settings import Settings
from streams.shell.state import StateIdentity, claim_state

log = logging.getLogger(__name__)


def observe_loops() -> None:
    """Every Kafka loop of this process counts into the shell's Prometheus metrics (the loop
    adapter knows nothing of Prometheus; this is where the two meet, once per process)."""
    observers = kafka_loop.OBSERVERS
    observers.consumed = lambda topic, n: metrics.RECORDS_CONSUMED.labels(topic=topic).inc(n)
    observers.dead_lettered = lambda topic, reason: metrics.DEAD_LETTERS.labels(
        topic=topic, reason=reason.value
    ).inc()
    observers.lag = lambda group, topic, partition, behind: metrics.CONSUMER_LAG.labels(
        group=group, topic=topic, partition=str(partition)
    ).set(behind)
    observers.transaction = metrics.TRANSACTION_COMMIT_SECONDS.observe


def connected(settings: Settings, *, topics: bool = True, owns_state: bool = False) -> Components:
    """The components, once the broker answered (else ``BrokerUnreachable`` within 10 s) and,
    with ``topics``, has the registry's topics (else ``CommandFailed`` saying how to create them).
    With ``owns_state``, the state folder is claimed for the cluster (a one-shot command
    that keeps a local store, as a service's start does)."""
    cluster = check_broker(settings)
    if owns_state:
        owner = StateIdentity(cluster.cluster_id, settings.topic_prefix)
        claim_state(settings.state_dir, owner, rebuild=settings.state_rebuild)
    components = bootstrap(settings)
    registry = components.topics
    wanted = [registry.topic(spec.name) for spec in registry.specs()] if topics else []
    missing = [t for t in wanted if t not in cluster.topics]
    if missing:
        prefix = f"topic prefix {settings.topic_prefix!r}" if settings.topic_prefix else "no topic prefix"
        raise CommandFailed(
            f"{settings.bootstrap_servers} has no {missing[0]} ({len(missing)} of the OMS topics missing, "
            f"{prefix}): create them with `oms topics create`, or check --topic-prefix (OMS_TOPIC_PREFIX)"
        )
    return components


def run_writer(
    writer: TransactionalWriter, store: StateStore[Any], label: str, instance_id: str, stop: threading.Event
) -> None:
    """Until ``stop``; a progress line every 5 s while work flows."""
    last = [time.monotonic(), 0, 0, 0]

    def report() -> None:
        now = time.monotonic()
        if now - last[0] >= 5:
            s = writer.stats
            transactions = s.transactions - last[2]
            log.info(
                "%s: commands %d, events %d, rejected %d, dead letters %d (%.0f events/s; "
                "%d transactions, %.0f event partitions each)",
                label,
                s.commands,
                s.events,
                s.rejected,
                s.dead_letters,
                (s.events - last[1]) / (now - last[0]),
                transactions,
                (s.partitions_touched - last[3]) / transactions if transactions else 0,
            )
            last[:] = [now, s.events, s.transactions, s.partitions_touched]

    log.info("%s %s starting", label, instance_id)
    try:
        writer.run(stop, on_batch=report)
    finally:
        store.close()
    s = writer.stats
    log.info("%s stopped: %d commands, %d events", label, s.commands, s.events)
