"""The compiled Avro readers build what fastavro and pydantic build, for every record."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, Literal

import fastavro
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from streams.adapters.avro import AvroCodec, SchemaCatalog, UndecodableRecord
from streams.adapters.avro_reader import read_long, reader_of
from streams.adapters.topics import TopicRegistry
from streams.domain.values import OrderStatus, Value
from streams.settings import Settings
from tests.unit.adapters.test_avro_writer import _journey_records

CATALOG = SchemaCatalog(Settings().schemas_dir)
MODELS = list(TopicRegistry().value_models())
CODEC = AvroCodec(CATALOG, MODELS)


def _same(value: BaseModel, reference: BaseModel) -> None:
    """Equal, with the same fields set, in the same order (``model_dump``'s and JSON's)."""
    assert value == reference
    assert value.model_fields_set == reference.model_fields_set
    assert list(value.__dict__) == list(reference.__dict__)
    assert value.model_dump() == reference.model_dump()


def _compiled(data: bytes) -> BaseModel:
    """The compiled reader's own result (the codec would fall back on a refusal)."""
    name, offset = CODEC._body(data)
    assert name is not None
    read = CODEC._readers[name]
    assert read is not None, name
    return read(data, offset)


def test_every_record_without_constraints_compiles() -> None:
    missing = sorted(n for n, r in CODEC._readers.items() if r is None)
    # their models constrain a field (quantity > 0, flow_version >= 1): pydantic checks it
    assert missing == [
        "oms.TargetPaused",
        "oms.TargetResumed",
        "oms.inventory.RecordReceipt",
        "oms.inventory.RecordShipment",
        "oms.inventory.ReserveInventory",
        "oms.inventory.SetOnHand",
    ]


def test_journey_records_decode_as_fastavro_and_pydantic_do() -> None:
    for record in _journey_records():
        data = CODEC.encode(record)
        _same(CODEC.decode(data), CODEC._decode_with_fastavro(data))
        if CODEC._readers[CODEC.record_name(type(record))] is not None:
            _same(_compiled(data), CODEC._decode_with_fastavro(data))


def _one_field(schema: Any, annotation: Any) -> tuple[Any, type[Value]]:
    parsed = fastavro.parse_schema({"type": "record", "name": "R", "fields": [{"name": "v", "type": schema}]})
    model = type("R", (Value,), {"__annotations__": {"v": annotation}})
    return parsed, model


@pytest.mark.parametrize(
    ("schema", "annotation", "value"),
    [
        ("long", int, 0),
        ("long", int, -1),
        ("long", int, 63),
        ("long", int, 64),
        ("long", int, -65),
        ("long", int, 2**63 - 1),
        ("long", int, -(2**63)),
        ("int", int, 300),
        ("string", str, ""),
        ("string", str, "é" * 40),
        ("string", str, "x" * 63),
        ("string", str, "x" * 64),
        ("string", str, "x" * 200),
        ("string", OrderStatus, "Completed"),
        ("string", Literal["a", "b"], "b"),
        ("double", float, 2.5),
        ("boolean", bool, True),
        ("boolean", bool, False),
        ("bytes", bytes, b"\x00\xff" * 50),
        (
            {"type": "long", "logicalType": "timestamp-micros"},
            datetime,
            datetime(1969, 7, 20, 20, 17, tzinfo=UTC),
        ),
        (
            {"type": "long", "logicalType": "timestamp-micros"},
            datetime,
            datetime(2026, 1, 1, 1, 2, 3, 456789, tzinfo=UTC),
        ),
        ({"type": "int", "logicalType": "date"}, date, date(2026, 12, 3)),
        (
            {"type": "bytes", "logicalType": "decimal", "precision": 12, "scale": 2},
            Decimal,
            Decimal("-1234.5"),
        ),
        ({"type": "array", "items": "string"}, tuple[str, ...], ["a", "b"]),
        ({"type": "array", "items": "string"}, tuple[str, ...], []),
        ({"type": "array", "items": "long"}, tuple[int, ...], list(range(100))),
        ({"type": "map", "values": "string"}, dict[str, str], {"k": "v", "é": ""}),
        ({"type": "map", "values": "long"}, dict[str, int], {}),
        (["null", "string"], str | None, None),
        (["null", "string"], str | None, "s"),
        (["null", "long"], int | None, -3),
        (
            ["null", {"type": "long", "logicalType": "timestamp-micros"}],
            datetime | None,
            datetime(2026, 5, 1, tzinfo=UTC),
        ),
        (["null", {"type": "int", "logicalType": "date"}], date | None, date(2026, 5, 1)),
    ],
)
def test_each_type_decodes_as_fastavro_and_pydantic_do(schema: Any, annotation: Any, value: Any) -> None:
    parsed, model = _one_field(schema, annotation)
    read = reader_of(parsed, model)
    assert read is not None
    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, parsed, {"v": value})
    data = b"head" + buf.getvalue()
    _same(read(data, 4), model.model_validate(fastavro.schemaless_reader(io.BytesIO(data[4:]), parsed, None)))


def test_an_array_in_blocks_with_sizes_is_read_whole() -> None:
    """Avro lets a writer split an array into blocks, a negative count giving the block's
    size in bytes too (fastavro never writes one; another writer may)."""
    parsed, model = _one_field({"type": "array", "items": "long"}, tuple[int, ...])
    read = reader_of(parsed, model)
    assert read is not None
    data = bytes([3, 4, 4, 2, 2, 6, 0])  # -2 items (2 bytes): 2, 1; then 1 item: 3; then 0
    assert read(data, 0).v == (2, 1, 3)  # type: ignore[attr-defined]
    assert read_long(bytes([3]), 0) == (-2, 1)


@pytest.mark.parametrize(
    ("schema", "annotation"),
    [
        ("string", int),
        (["null", "string"], str),
        (["string", "null"], str | None),
        ({"type": "array", "items": "string"}, list[str]),
        ({"type": "map", "values": "string"}, dict[int, str]),
        ("string", Literal[1, 2]),
        ({"type": "long", "logicalType": "timestamp-millis"}, datetime),
    ],
)
def test_a_pair_outside_the_set_is_left_to_fastavro(schema: Any, annotation: Any) -> None:
    parsed, model = _one_field(schema, annotation)
    assert reader_of(parsed, model) is None


def _framed(record: BaseModel) -> bytes:
    return CODEC.encode(record)


def test_bytes_a_reader_refuses_go_the_reference_way() -> None:
    record = _journey_records()[1]
    data = _framed(record)
    with pytest.raises(UndecodableRecord):
        CODEC.decode(data[:-3])  # truncated: fastavro says why
    _same(CODEC.decode(data + b"\x00"), CODEC._decode_with_fastavro(data + b"\x00"))  # fastavro ignores it


def test_an_unknown_enum_value_is_undecodable_as_before() -> None:
    record = _journey_records()[1]  # an event: its envelope carries the status
    name = CODEC.record_name(type(record))
    datum = record.model_dump()
    datum["envelope"]["status"] = "Nope"
    buf = io.BytesIO(CODEC._prefix[name])
    buf.seek(0, io.SEEK_END)
    fastavro.schemaless_writer(buf, CATALOG.parsed[name], datum)
    with pytest.raises(UndecodableRecord, match="invalid fields"):
        CODEC.decode(buf.getvalue())


@settings(max_examples=3, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_any_valid_model_decodes_as_fastavro_and_pydantic_do(
    model: type[BaseModel], data: st.DataObject
) -> None:
    try:
        value = data.draw(st.builds(model))
    except (ValidationError, TypeError):  # a strategy hypothesis infers can break a validator
        assume(False)
        return
    try:
        encoded = CODEC._encode_with_fastavro(CODEC.record_name(model), value)
    except Exception:
        assume(False)  # fastavro cannot write it either (say, a naive time before 1970)
        return
    try:
        reference = CODEC._decode_with_fastavro(encoded)
    except UndecodableRecord:
        assume(False)  # hypothesis built a value its own model would not read back
        return
    _same(CODEC.decode(encoded), reference)
    if CODEC._readers[CODEC.record_name(model)] is not None:
        _same(_compiled(encoded), reference)


def test_a_timestamp_beyond_a_long_is_refused_not_read() -> None:
    parsed, model = _one_field({"type": "long", "logicalType": "timestamp-micros"}, datetime)
    read = reader_of(parsed, model)
    assert read is not None
    with pytest.raises(OverflowError):
        read(bytes([0xFF] * 10 + [0x01]), 0)
