"""The OMS stream processor: an event-sourced order aggregate on Apache Kafka.

Layers, inside out (import-linter keeps them): ``domain`` (the pure core), ``shell`` (what
every process shares), ``adapters`` (Kafka, Avro, RocksDB, YAML files, HTTP), ``services``
(the writers, DOM, the backorder job, replay, the projection, operations), ``bootstrap``
(the one composition root), ``entrypoints`` and ``cli`` (the ``oms`` command).
"""
