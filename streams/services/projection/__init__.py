"""The read side: every order's view and history, folded from the event topics into RocksDB.

Any number of projections may read the event topics, each from the beginning into its own
store. One projection reads every partition of every event topic (it is a complete read
model, not a partition of one), merges the topics by each order's ``seq`` with the one
merge (``OrderHistories``) and keeps, per order, its current state, its events and index
entries (status, reason, provider, external references) for listing.

**Exactly once into the store.** The offsets consumed are written in the same RocksDB
``WriteBatch`` as the views and events they produced, so after a crash or a restart the
projection resumes from exactly where its state is: nothing is folded or counted twice
and nothing is skipped. An event read before its predecessor (another topic, not yet
read) is held in memory by the merge; its partition's resume offset stays at it until it
is folded, so a restart reads it again. The next offset read is stored too: the records a
restart reads again that were folded already are skipped without being counted as
duplicates.

**Hot path.** The one Kafka loop in batches (``consume(5000, 0.1)``), decode, fold, one
``WriteBatch``: Faust's per-record agents fold ~2,000 events/s here, this loop tens of
thousands. Reads (the HTTP API) go to RocksDB, never to the fold's cache, so they only see
committed batches; listeners hear of a batch after it is durable.

**Shards.** The same fold can be split by partition: a shard's store holds the orders of
its share of the partitions, a rebuild folds the shards in as many processes, and one
``ShardedProjection`` serves and tails them all (``sharded``: the design and why).

One module per job: ``store`` (the key layout and the one write), ``working_set`` (the
fold's cache), ``fold`` (merge, fold, offsets), ``activity`` (counters and throughput),
``queries`` (the read model), ``runner`` (the Kafka loop) and ``sharded`` (shards).
"""

from streams.services.projection.fold import Projection, Record
from streams.services.projection.runner import PROJECTION_GROUP, ProjectionRunner, RunResult
from streams.services.projection.sharded import (
    FAR_BEHIND,
    ShardedProjection,
    behind,
    fold_shards,
    open_shards,
    projection_at,
    store_path,
)
from streams.services.projection.store import ProjectionStore

__all__ = [
    "FAR_BEHIND",
    "PROJECTION_GROUP",
    "Projection",
    "ProjectionRunner",
    "ProjectionStore",
    "Record",
    "RunResult",
    "ShardedProjection",
    "behind",
    "fold_shards",
    "open_shards",
    "projection_at",
    "store_path",
]
