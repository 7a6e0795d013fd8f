"""Adapters at the edge of the core: the topic registry, Avro and the Schema Registry, the
one Kafka loop, RocksDB stores, YAML files (flows, alert rules, configuration) and the
HTTP API (``http``)."""
