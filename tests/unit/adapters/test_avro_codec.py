"""The Avro catalog is the contract: models mirror it, and both framings round-trip."""

from __future__ import annotations

import http.server
import json
import struct
import threading
from datetime import UTC, date, datetime
from typing import Any, ClassVar, get_args, get_origin

import pytest
from avro_records import journey_records
from pydantic import BaseModel

from devkit.scenarios import journey1_orders
from streams.adapters.avro import AvroCodec, SchemaCatalog, UndecodableRecord
from streams.adapters.schema_registry import ConfluentSchemaIds
from streams.adapters.topics import TopicRegistry
from streams.domain.atp import LinePromise
from streams.domain.commands import ProviderActionRequest, RecordActionResult
from streams.domain.decider import decide
from streams.domain.order import fold
from streams.domain.sourcing import Allocation, FulfillmentPlan
from streams.domain.values import FulfillmentOrder, FulfillmentOrderLine
from streams.settings import Settings

CATALOG = SchemaCatalog(Settings().schemas_dir)
MODELS = list(TopicRegistry().value_models())
NOW = datetime(2026, 11, 28, 9, tzinfo=UTC)


def _fields(schema: dict[str, Any]) -> set[str]:
    return {f["name"] for f in schema["fields"]}


def _nested_model(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if get_origin(annotation) is None:
        return None
    return next((m for a in get_args(annotation) if (m := _nested_model(a)) is not None), None)


def _record(t: Any) -> dict[str, Any] | None:
    """The record a field holds: itself, an array's items or a union's branch."""
    if isinstance(t, list):
        return next((r for branch in t if (r := _record(branch)) is not None), None)
    if isinstance(t, dict) and t.get("type") == "array":
        return _record(t["items"])
    return t if isinstance(t, dict) and t.get("type") == "record" else None


def _assert_same_shape(model: type[BaseModel], schema: dict[str, Any]) -> None:
    assert set(model.model_fields) == _fields(schema), f"{model.__name__} vs {schema['name']}"
    for field in schema["fields"]:
        record = _record(field["type"])
        if record is not None:
            nested = _nested_model(model.model_fields[field["name"]].annotation)
            assert nested is not None, f"{model.__name__}.{field['name']} should be a model"
            _assert_same_shape(nested, record)


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_every_model_mirrors_its_avsc_field_for_field(model: type[BaseModel]) -> None:
    full = next(n for n in CATALOG.names() if n.endswith("." + model.__name__))
    _assert_same_shape(model, json.loads(CATALOG.definitions[full]))


def test_commands_and_events_round_trip_in_single_object_encoding() -> None:
    codec = AvroCodec(CATALOG, MODELS)
    for message in journey_records(every_journey=False):
        data = codec.encode(message)
        assert data[:2] == b"\xc3\x01"
        assert data[2:10] == CATALOG.fingerprints[codec.record_name(type(message))]
        assert codec.decode(data) == message


def _dom_request_and_answer() -> tuple[ProviderActionRequest, RecordActionResult]:
    """A request carrying a journey order (its lines with dates, its DOM fulfillment order)
    and DOM's answer with its plan."""
    create = next(iter(journey1_orders(1)))[0]
    state = fold(decide(create, None))
    assert state is not None
    dated = state.lines[0].model_copy(update={"preorder_until": date(2026, 12, 1), "backordered_at": NOW})
    fo = FulfillmentOrder(
        fulfillment_order_id="FO1",
        source="SEA",
        warehouse="11",
        strategy="closest",
        lines=(FulfillmentOrderLine(line_id=dated.line_id, sku=dated.sku, quantity=1, reservation_id="r1"),),
    )
    state = state.model_copy(update={"lines": (dated, *state.lines[1:]), "fulfillment_orders": (fo,)})
    request = ProviderActionRequest(
        **{"action_id": "a", "order_id": state.order_id, "provider": "dom", "step": "dom", "attempt": 1},
        action="send_to_fulfillment_optimization",
        not_before=NOW,
        deadline=NOW,
        correlation_id="c",
        order=state.snapshot(),
    )
    plan = FulfillmentPlan(
        order_id=state.order_id,
        strategy="closest",
        outcome="partially sourced",
        allocations=(
            Allocation(line_id="1", sku="TEE", source="SEA", warehouse="11", quantity=1, distance_km=3.5),
        ),
        unsourced=("2",),
        relaxed=("cutoff",),
        promises=(
            LinePromise(line_id="1", inventory_availability_date=NOW.date(), estimated_ship_date=NOW.date()),
        ),
    )
    return request, request.answer(source="dom", success=True, issued_at=NOW, plan=plan)


def test_a_request_carries_its_order_and_a_dom_answer_its_plan_as_records() -> None:
    codec = AvroCodec(CATALOG, MODELS)
    for message in _dom_request_and_answer():
        assert codec.decode(codec.encode(message)) == message


class FakeRegistry:
    """A Schema Registry's two calls, in memory: ids in registration order."""

    def __init__(self) -> None:
        self.schemas: list[str] = []

    def register(self, subject: str, schema: str) -> int:
        if schema not in self.schemas:
            self.schemas.append(schema)
        return self.schemas.index(schema) + 1

    def schema(self, schema_id: int) -> str:
        return self.schemas[schema_id - 1]


def test_with_a_schema_registry_records_use_the_confluent_wire_format() -> None:
    registry = FakeRegistry()
    codec = AvroCodec(CATALOG, MODELS, registry)
    message = journey_records(every_journey=False)[1]
    data = codec.encode(message)
    magic, schema_id = struct.unpack_from(">bI", data)
    assert magic == 0 and registry.schema(schema_id) == CATALOG.definitions[codec.record_name(type(message))]
    assert codec.decode(data) == message


def test_decoding_dispatches_on_the_first_byte_so_both_framings_coexist() -> None:
    registry = FakeRegistry()
    confluent = AvroCodec(CATALOG, MODELS, registry)
    single = AvroCodec(CATALOG, MODELS)
    message = journey_records(every_journey=False)[0]
    assert confluent.decode(single.encode(message)) == message
    # A reader without the registry's id cache asks the registry for unknown ids.
    late_reader = AvroCodec(CATALOG, MODELS, registry)
    late_reader._by_schema_id.clear()
    assert late_reader.decode(confluent.encode(message)) == message


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "too short"),
        (b'{"order_id": "1"}', "unknown framing (first byte 0x7b)"),
        (b"\xc3\x01" + b"\x00" * 8 + b"xx", "unknown schema fingerprint"),
        (b"\x00\x00\x00\x00\x07abc", "no Schema Registry is configured"),
    ],
)
def test_undecodable_records_say_why(data: bytes, reason: str) -> None:
    with pytest.raises(UndecodableRecord, match=reason.replace("(", r"\(").replace(")", r"\)")):
        AvroCodec(CATALOG, MODELS).decode(data)


def test_a_corrupt_body_is_undecodable_not_a_crash() -> None:
    codec = AvroCodec(CATALOG, MODELS)
    data = codec.encode(journey_records(every_journey=False)[0])
    with pytest.raises(UndecodableRecord, match=r"corrupt Avro body|invalid fields"):
        codec.decode(data[:12])


class RegistryApi(http.server.BaseHTTPRequestHandler):
    """The two calls of the Schema Registry REST API the codec makes, in memory."""

    schemas: ClassVar[list[str]] = []
    subjects: ClassVar[list[str]] = []

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.subjects.append(self.path.split("/")[2])
        if body["schema"] not in self.schemas:
            self.schemas.append(body["schema"])
        self._answer({"id": self.schemas.index(body["schema"]) + 1})

    def do_GET(self) -> None:
        schema_id = int(self.path.split("?")[0].rsplit("/", 1)[-1])
        self._answer({"schema": self.schemas[schema_id - 1]})

    def _answer(self, data: dict[str, Any]) -> None:
        payload = json.dumps(data).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/vnd.schemaregistry.v1+json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def test_confluent_kafkas_client_registers_by_record_name_and_resolves_unknown_ids() -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), RegistryApi)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}"
    try:
        writer = AvroCodec(CATALOG, MODELS, ConfluentSchemaIds(url))
        reader = AvroCodec(CATALOG, MODELS, ConfluentSchemaIds(url))
        reader._by_schema_id.clear()
        message = journey_records(every_journey=False)[1]
        data = writer.encode(message)
        assert reader.decode(data) == message
    finally:
        server.shutdown()
    assert writer.record_name(type(message)) in RegistryApi.subjects  # RecordNameStrategy
