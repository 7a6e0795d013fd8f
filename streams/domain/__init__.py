"""The pure core: order state as a fold of events, deciders, the status transition table.

Nothing here performs I/O or imports Kafka, Faust, HTTP, Avro or RocksDB modules; an
import-linter contract in ``make test`` keeps it that way.
"""
