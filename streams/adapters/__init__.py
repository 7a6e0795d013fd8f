"""Adapters: Kafka, Avro, RocksDB and the local broker, at the edge of the core."""
