"""The Confluent wire format against a real Schema Registry, through confluent-kafka's client.

Runs when ``OMS_TEST_SCHEMA_REGISTRY_URL`` names a Confluent-compatible registry that answers
(Confluent's, or Apicurio Registry's ``.../apis/ccompat/v7``); skips otherwise. None runs on
the project's machines: Apicurio Registry's app (``io.apicurio:apicurio-registry-app``
3.3.3 and 2.6.13.Final) cannot be assembled from Maven Central here, because its dependency
``apicurio-registry-schema-util-provider`` is not served at either version.
"""

from __future__ import annotations

import os
import struct

import pytest

from devkit.scenarios import journey1_orders
from streams.adapters.avro import AvroCodec, SchemaCatalog
from streams.adapters.schema_registry import ConfluentSchemaIds, SchemaRegistryError
from streams.adapters.topics import TopicRegistry
from streams.domain.decider import decide
from streams.settings import Settings

URL = os.environ.get("OMS_TEST_SCHEMA_REGISTRY_URL", "").strip()


def _registry() -> ConfluentSchemaIds:
    if not URL:
        pytest.skip(
            "no Schema Registry: set OMS_TEST_SCHEMA_REGISTRY_URL (Apicurio Registry cannot be "
            "assembled from Maven Central here: apicurio-registry-schema-util-provider is not served)"
        )
    registry = ConfluentSchemaIds(URL, timeout=5.0)
    try:
        registry.client.get_subjects()
    except (SchemaRegistryError, OSError) as exc:
        pytest.skip(f"the Schema Registry at {URL} does not answer: {exc}")
    return registry


def test_every_record_registers_and_round_trips_in_the_confluent_wire_format() -> None:
    registry = _registry()
    catalog = SchemaCatalog(Settings().schemas_dir)
    models = list(TopicRegistry().value_models())
    writer = AvroCodec(catalog, models, registry)
    reader = AvroCodec(catalog, models, ConfluentSchemaIds(URL))  # asks the registry by id
    reader._by_schema_id.clear()
    commands = journey1_orders(1)[0]
    messages = [commands[0], *decide(commands[0], None)]
    for message in messages:
        data = writer.encode(message)
        magic, schema_id = struct.unpack_from(">bI", data)
        assert magic == 0 and schema_id > 0
        assert reader.decode(data) == message
