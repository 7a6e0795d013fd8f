"""The Confluent Schema Registry, through confluent-kafka's own client and framing.

``ConfluentSchemaIds`` is the codec's ``SchemaIds`` over
``confluent_kafka.schema_registry.SchemaRegistryClient`` (which caches ids and schemas, so
each costs one request per process). Our topics carry several record types each
(``order.commands``), so subjects follow the RecordNameStrategy: the record's full name.
``frame``/``unframe`` are the wire format's ``0x00`` + 4-byte big-endian id, written and
read by the library's ``SchemaId``. Any Confluent-compatible registry serves (Confluent's,
Apicurio Registry's ``/apis/ccompat/v7``).
"""

from __future__ import annotations

import io

from confluent_kafka.schema_registry import Schema, SchemaRegistryClient, record_subject_name_strategy
from confluent_kafka.schema_registry.error import SchemaRegistryError
from confluent_kafka.schema_registry.serde import SchemaId

__all__ = ["ConfluentSchemaIds", "SchemaRegistryError", "frame", "unframe"]


class ConfluentSchemaIds:
    def __init__(self, url: str, timeout: float = 10.0) -> None:
        self.client = SchemaRegistryClient({"url": url, "timeout": timeout})

    def register(self, record_name: str, schema: str) -> int:
        subject = record_subject_name_strategy(None, record_name) or record_name
        schema_id: int = self.client.register_schema(subject, Schema(schema, "AVRO"))
        return schema_id

    def schema(self, schema_id: int) -> str:
        text = self.client.get_schema(schema_id).schema_str
        if text is None:
            raise SchemaRegistryError(404, 40403, f"schema id {schema_id} has no schema text")
        return text


def frame(schema_id: int) -> bytes:
    """The Confluent wire format's prefix for ``schema_id``."""
    prefix: bytes = SchemaId("AVRO", schema_id).id_to_bytes()
    return prefix


def unframe(data: bytes) -> tuple[int, int]:
    """The schema id of a Confluent-framed record, and where its Avro body starts."""
    schema_id = SchemaId("AVRO")
    body = schema_id.from_bytes(io.BytesIO(data))
    assert schema_id.id is not None
    return schema_id.id, body.tell()
