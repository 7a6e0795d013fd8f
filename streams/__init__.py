"""The OMS stream processor: an event-sourced order aggregate on Apache Kafka.

Layers, inside out: ``domain`` (pure core), ``adapters`` (Kafka, Avro, RocksDB, the
local broker), ``services`` (the order writer, replay), ``bootstrap`` (the one
composition root) and ``cli`` (the ``oms`` command).
"""
