"""Consumer lag, measured from outside the loop: what ``oms_consumer_lag`` and the
``caught_up`` readiness check say for a service's consumer group.

Every ``interval`` a consumer that never joins the group (it only asks) compares the
group's committed offsets with the ends of its partitions. A transaction's commit marker
takes an offset the group never consumes, so a partition at most ``slack`` (1) behind is
caught up. The loops need no code for it; a loop that knows better may set the check.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from confluent_kafka import Consumer, KafkaException, TopicPartition

from streams.shell.health import READINESS, Check, Readiness
from streams.shell.metrics import CONSUMER_LAG
from streams.shell.settings import Settings

log = logging.getLogger(__name__)


class LagMonitor:
    def __init__(
        self,
        settings: Settings,
        group: str,
        topics: Iterable[str],
        *,
        readiness: Readiness = READINESS,
        interval: float = 5.0,
        slack: int = 1,
    ) -> None:
        self.group = group
        self.topics = list(topics)
        self.readiness = readiness
        self.interval = interval
        self.slack = slack
        config: dict[str, Any] = {
            "bootstrap.servers": settings.bootstrap_servers,
            "group.id": group,
            "enable.auto.commit": False,
            "logger": logging.getLogger("librdkafka"),
        }
        self._consumer = Consumer(config)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="lag-monitor", daemon=True)
        readiness.require(Check.CAUGHT_UP)

    def start(self) -> LagMonitor:
        self._thread.start()
        return self

    @contextmanager
    def running(self) -> Iterator[LagMonitor]:
        """Measure while the body runs (the service's loop)."""
        self.start()
        try:
            yield self
        finally:
            self.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(10)
        self._consumer.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.measure()
            except KafkaException as exc:
                self.readiness.set(Check.CAUGHT_UP, False, f"lag unknown: {exc.args[0]}")
            self._stop.wait(self.interval)

    def measure(self) -> dict[tuple[str, int], int]:
        """Each partition's lag (records between the group's committed offset and the end)."""
        metadata = self._consumer.list_topics(timeout=5)
        partitions = [
            TopicPartition(topic, p)
            for topic in self.topics
            if topic in metadata.topics
            for p in metadata.topics[topic].partitions
        ]
        lags: dict[tuple[str, int], int] = {}
        for tp in self._consumer.committed(partitions, timeout=5):
            low, high = self._consumer.get_watermark_offsets(tp, timeout=5, cached=False)
            lag = max(0, high - (tp.offset if tp.offset >= 0 else low))
            lags[(tp.topic, tp.partition)] = lag
            CONSUMER_LAG.labels(group=self.group, topic=tp.topic, partition=str(tp.partition)).set(lag)
        behind = sum(lag for lag in lags.values() if lag > self.slack)
        self.readiness.set(
            Check.CAUGHT_UP,
            behind == 0,
            f"{behind} records behind" if behind else f"{len(lags)} partitions caught up",
        )
        return lags
