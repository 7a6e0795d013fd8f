"""A writer's count of what its transactions touched: the commit's cost grows with it."""

from __future__ import annotations

from streams.services.transactional import WriterStats
from streams.shell import metrics


def _observed() -> tuple[float, float]:
    """(count, sum) of the partitions histogram so far."""
    samples = {s.name: s.value for m in metrics.TRANSACTION_PARTITIONS.collect() for s in m.samples}
    return samples["oms_transaction_partitions_count"], samples["oms_transaction_partitions_sum"]


def test_each_committed_transaction_counts_its_event_partitions() -> None:
    # given a writer's stats and the process's histogram as it stands
    stats = WriterStats()
    count, total = _observed()
    # when two transactions commit, one appending to 12 event partitions, one to 3
    stats.touched(12)
    stats.touched(3)
    # then the stats hold both, and the histogram observed both
    assert (stats.transactions, stats.partitions_touched) == (2, 15)
    assert _observed() == (count + 2, total + 15)
