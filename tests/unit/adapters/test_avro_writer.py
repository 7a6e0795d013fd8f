"""The compiled Avro writers write fastavro's bytes, for every record the catalog holds."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import fastavro
import pytest
from avro_records import journey_records
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from streams.adapters.avro import AvroCodec, SchemaCatalog
from streams.adapters.avro_writer import DECIMALS_KEPT, compile_writer, writer_of
from streams.adapters.topics import TopicRegistry
from streams.settings import Settings

CATALOG = SchemaCatalog(Settings().schemas_dir)
MODELS = list(TopicRegistry().value_models())
CODEC = AvroCodec(CATALOG, MODELS)


def _reference(value: BaseModel) -> bytes:
    return CODEC._encode_with_fastavro(CODEC.record_name(type(value)), value)


def test_every_record_of_the_catalog_compiles() -> None:
    missing = [n for n in CODEC._model_of if CODEC._writers[n] is None]
    assert missing == []


def test_journey_records_encode_to_fastavros_bytes() -> None:
    for record in journey_records():
        assert CODEC.encode(record) == _reference(record), type(record).__name__


@pytest.mark.parametrize(
    ("schema", "value"),
    [
        ("long", 0),
        ("long", -1),
        ("long", 63),
        ("long", 64),
        ("long", -65),
        ("long", 2**63 - 1),
        ("long", -(2**63)),
        ("int", 300),
        ("string", ""),
        ("string", "é" * 40),
        ("string", "x" * 200),
        ("double", 2.5),
        ("boolean", True),
        ("bytes", b"\x00\xff"),
        ({"type": "long", "logicalType": "timestamp-micros"}, datetime(1969, 7, 20, 20, 17, tzinfo=UTC)),
        (
            {"type": "long", "logicalType": "timestamp-micros"},
            datetime(2026, 1, 1, 1, 2, 3, 456789, tzinfo=timezone(timedelta(hours=-5))),
        ),
        ({"type": "int", "logicalType": "date"}, date(2026, 12, 3)),
        ({"type": "bytes", "logicalType": "decimal", "precision": 12, "scale": 2}, Decimal("-1234.5")),
        ({"type": "array", "items": "string"}, ["a", "b"]),
        ({"type": "array", "items": "string"}, []),
        ({"type": "map", "values": "string"}, {"k": "v", "é": ""}),
        ({"type": "map", "values": "long"}, {}),
        (["null", "string"], None),
        (["null", "string"], "s"),
    ],
)
def test_each_type_encodes_as_fastavro_does(schema: Any, value: Any) -> None:
    record = fastavro.parse_schema({"type": "record", "name": "R", "fields": [{"name": "v", "type": schema}]})
    write = writer_of(record)
    assert write is not None
    out = bytearray()

    class Holder:
        v = value

    write(Holder(), out)
    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, record, {"v": value})
    assert bytes(out) == buf.getvalue()


def _fastavro(schema: Any, value: Any) -> bytes:
    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, fastavro.parse_schema(schema), value)
    return buf.getvalue()


def _compiled(schema: Any, value: Any) -> bytes:
    out = bytearray()
    compile_writer(fastavro.parse_schema(schema), {})(value, out)
    return bytes(out)


_MICROS = {"type": "long", "logicalType": "timestamp-micros"}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    "micros",
    [0, 1, -1, 2**48 - 1, 2**48, 2**48 + 1, 2**55 - 1, 2**55, -(2**48), 1_796_590_000_123_456],
)
def test_timestamps_on_either_side_of_the_eight_byte_path_encode_as_fastavro_does(micros: int) -> None:
    value = _EPOCH + timedelta(microseconds=micros)
    assert _compiled(_MICROS, value) == _fastavro(_MICROS, value)
    assert _compiled(_MICROS, value.astimezone(timezone(timedelta(hours=9)))) == _fastavro(_MICROS, value)


@given(st.datetimes(timezones=st.timezones()))
def test_any_aware_timestamp_encodes_as_fastavro_does(value: datetime) -> None:
    assert _compiled(_MICROS, value) == _fastavro(_MICROS, value)


_PRICE = {"type": "bytes", "logicalType": "decimal", "precision": 4, "scale": 2}


def test_a_decimal_kept_from_an_earlier_record_is_written_as_fastavro_writes_it() -> None:
    write = compile_writer(fastavro.parse_schema(_PRICE), {})
    for value in [Decimal("19.99"), Decimal("19.99"), Decimal("-0.5"), Decimal("-0.50"), Decimal("0")]:
        out = bytearray()
        write(value, out)
        assert bytes(out) == _fastavro(_PRICE, value), value


def test_a_decimal_equal_to_a_kept_one_is_refused_as_fastavro_refuses_it() -> None:
    """1.5 is kept; 1.500 is equal but has more digits than the precision allows."""
    write = compile_writer(fastavro.parse_schema({**_PRICE, "precision": 3}), {})
    write(Decimal("1.5"), bytearray())
    with pytest.raises(ValueError):
        write(Decimal("1.500"), bytearray())
    with pytest.raises(ValueError):
        _fastavro({**_PRICE, "precision": 3}, Decimal("1.500"))


def test_the_decimals_kept_are_bounded() -> None:
    write = compile_writer(fastavro.parse_schema({**_PRICE, "precision": 12}), {})
    for cents in range(3 * DECIMALS_KEPT):
        value = Decimal(cents) / 100
        out = bytearray()
        write(value, out)
        assert bytes(out) == _fastavro({**_PRICE, "precision": 12}, value)
    kept = [v for name, v in write.__globals__.items() if name.startswith("_decimals")]
    assert kept and all(0 < len(k) <= DECIMALS_KEPT for k in kept)


def test_a_long_beyond_64_bits_is_refused_not_wrapped() -> None:
    with pytest.raises(OverflowError):
        compile_writer("long", {})(2**63, bytearray())


@settings(max_examples=3, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_any_valid_model_encodes_to_fastavros_bytes(model: type[BaseModel], data: st.DataObject) -> None:
    try:
        value = data.draw(st.builds(model))
    except (ValidationError, TypeError):  # a strategy hypothesis infers can break a validator
        assume(False)
        return
    try:
        expected = _reference(value)
    except Exception:
        assume(False)  # fastavro cannot write it either (say, a naive time before 1970)
        return
    assert CODEC.encode(value) == expected
