"""The pure core: order state as a fold of events, deciders, the status transition table,
and the logic built on them (the flow engine and policies, DOM's sourcing, inventory,
returns, the operations engines).

Nothing here performs I/O or imports Kafka, Faust, HTTP, Avro or RocksDB modules; an
import-linter contract in ``make test`` keeps it that way.
"""
