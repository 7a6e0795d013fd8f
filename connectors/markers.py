"""Committing a Faust consumer past the transaction markers at the end of a partition.

The order writer writes ``provider.<p>.requests`` in transactions, so each transaction ends
with a commit marker: an offset that holds no record. Faust commits "last acknowledged
record + 1", which leaves a partition whose last offset is a marker one below its end
offset forever: ``kafka-consumer-groups`` shows lag 1 on a connector that has done all
its work, and a lag alert never clears. (Markers *between* records are no trouble: Faust
fills such gaps in when the next record comes.)

So, now and then, for each partition whose committed offset is below its end with no
acknowledgement waiting to be committed, a plain consumer reads from the committed
offset to the end, uncommitted records included. Only when it meets no record there
(only markers) do those offsets count as acknowledged, and Faust's own commit, at its
next interval, moves the group to the end. A record that has not been answered is never
skipped, whatever Faust is doing with it: the check reads the topic, not Faust's buffers.

This reaches into Faust's consumer bookkeeping (``_committed_offset``, ``_acked``,
``_acked_index``, under ``ack_lock``): faust-streaming is pinned to an exact version and
``tests/integration/connectors`` checks the lag of a connector after a transactional run.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from typing import Any

from confluent_kafka import Consumer, KafkaError, TopicPartition
from faust.types import TP
from faust.types.tuples import ack_lock

from streams.adapters.kafka import consumer_config
from streams.settings import Settings

log = logging.getLogger(__name__)

CHECK_EVERY = 5.0
"""Seconds between checks: a caught-up connector reads lag 0 within this plus Faust's commit interval."""


def only_markers(
    consumer: Consumer, spans: Mapping[TP, tuple[int, int]], timeout: float = 5.0
) -> dict[TP, int]:
    """For each partition's span (committed, end): the end offset if no record lies from
    ``committed`` up to the partition's end, uncommitted records included; partitions
    with a record there, or not read to their end within ``timeout``, are left out."""
    if not spans:
        return {}
    consumer.assign([TopicPartition(tp.topic, tp.partition, start) for tp, (start, _) in spans.items()])
    pending = {(tp.topic, tp.partition): tp for tp in spans}
    clean: dict[TP, int] = {}
    deadline = time.monotonic() + timeout
    try:
        while pending and time.monotonic() < deadline:
            for msg in consumer.consume(100, 0.2):
                tp = pending.pop((msg.topic() or "", msg.partition() or 0), None)
                error = msg.error()
                if tp is None or (error is not None and error.code() != KafkaError._PARTITION_EOF):
                    continue
                if error is not None and (msg.offset() or 0) > spans[tp][0]:
                    clean[tp] = msg.offset() or 0  # end of partition, no record on the way
    finally:
        consumer.unassign()
    return clean


class TrailingMarkers:
    """Counts trailing transaction markers of ``topic`` as acknowledged by Faust's consumer."""

    def __init__(self, settings: Settings, topic: str) -> None:
        self._settings = settings
        self._topic = topic
        self._probe: Consumer | None = None

    async def check(self, faust_consumer: Any) -> dict[TP, int]:
        """One round; returns the partitions moved on, and to which offset."""
        spans = self._spans(faust_consumer)
        if not spans:
            return {}
        clean = await asyncio.to_thread(only_markers, self._consumer(), spans)
        moved = {}
        with ack_lock:
            for tp, end in clean.items():
                committed = faust_consumer._committed_offset.get(tp)
                if committed != spans[tp][0] or faust_consumer._acked.get(tp):
                    continue  # it moved on by itself while we looked
                markers = range(committed, end)
                faust_consumer._acked[tp].extend(markers)
                faust_consumer._acked_index[tp].update(markers)
                moved[tp] = end
        if moved:
            log.debug("commit past transaction markers: %s", moved)
        return moved

    def _spans(self, faust_consumer: Any) -> dict[TP, tuple[int, int]]:
        spans = {}
        for tp in faust_consumer.assignment():
            if tp.topic != self._topic:
                continue
            committed = faust_consumer._committed_offset.get(tp)
            end = faust_consumer.highwater(tp)
            if committed is None or end is None or end <= committed or faust_consumer._acked.get(tp):
                continue
            spans[tp] = (committed, end)
        return spans

    def _consumer(self) -> Consumer:
        if self._probe is None:
            self._probe = Consumer(
                consumer_config(
                    self._settings,
                    None,
                    **{"enable.partition.eof": True, "isolation.level": "read_uncommitted"},
                )
            )
        return self._probe

    def close(self) -> None:
        if self._probe is not None:
            self._probe.close()
            self._probe = None
