"""Released history stays readable: every schema version is locked, and today's reads all."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime

import fastavro
import pytest

from streams.adapters.avro import SINGLE_OBJECT_MAGIC, AvroCodec, SchemaCatalog
from streams.adapters.schema_lock import can_read, load_lock, lock_path, unlocked
from streams.adapters.topics import TopicRegistry
from streams.domain.events import OrderCreated
from streams.settings import Settings

CATALOG = SchemaCatalog(Settings().schemas_dir)
LOCK = load_lock(lock_path(CATALOG))


def test_every_schema_is_locked_so_no_change_goes_unchecked() -> None:
    assert unlocked(CATALOG, LOCK) == [], "run `oms schemas lock` (it checks compatibility first)"


@pytest.mark.parametrize("name", sorted(LOCK), ids=str)
def test_todays_schema_reads_every_earlier_version(name: str) -> None:
    current = json.loads(CATALOG.definitions[name])
    for version in LOCK[name]:
        assert can_read(current, version["schema"]) == [], version["fingerprint"]


def test_an_order_created_before_attributes_existed_decodes_with_empty_attributes() -> None:
    earlier = next(v for v in LOCK["oms.events.OrderCreated"] if "attributes" not in json.dumps(v["schema"]))
    writer = fastavro.parse_schema(earlier["schema"])
    datum = {
        "envelope": {
            "event_id": "e1",
            "order_id": "O1",
            "seq": 1,
            "occurred_at": datetime(2026, 11, 28, tzinfo=UTC),
            "correlation_id": "c",
            "causation_id": "k",
            "source": "s",
            "status": "New",
            "status_reason": "Created",
        },
        "channel": "bigcommerce",
        "customer_id": "C",
        "currency": "USD",
        "ship_to": {"name": "n", "line1": "l", "city": "c", "postal_code": "1", "country": "US"},
        "lines": [],
        "external_refs": [],
        "company": None,
        "invoice_customer": None,
    }
    body = io.BytesIO()
    fastavro.schemaless_writer(body, writer, datum)
    data = SINGLE_OBJECT_MAGIC + bytes.fromhex(earlier["fingerprint"]) + body.getvalue()

    event = AvroCodec(CATALOG, TopicRegistry().value_models()).decode(data)

    assert isinstance(event, OrderCreated)
    assert event.attributes == {} and event.envelope.order_id == "O1"


def test_compatibility_rules() -> None:
    old = {"type": "record", "name": "R", "fields": [{"name": "a", "type": "int"}]}
    added_with_default = {**old, "fields": [*old["fields"], {"name": "b", "type": "string", "default": ""}]}
    added_without = {**old, "fields": [*old["fields"], {"name": "b", "type": "string"}]}
    widened = {**old, "fields": [{"name": "a", "type": "long"}]}
    narrowed = {**old, "fields": [{"name": "a", "type": "boolean"}]}
    optional = {**old, "fields": [{"name": "a", "type": ["null", "int"]}]}
    assert can_read(added_with_default, old) == []
    assert can_read(added_without, old) == ["b: new field without a default"]
    assert can_read(widened, old) == []
    assert can_read(narrowed, old) == ["a: int cannot be read as boolean"]
    assert can_read(optional, old) == []
    assert can_read(old, optional) != []  # a null cannot become an int
