"""The compiled Avro readers build the models fastavro + validation build, for every record."""

from __future__ import annotations

from typing import Literal

import fastavro
import pytest
from avro_records import journey_records
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, Field, ValidationError

from streams.adapters.avro import AvroCodec, SchemaCatalog, UndecodableRecord
from streams.adapters.avro_reader import reader_of
from streams.adapters.topics import TopicRegistry
from streams.domain.commands import RecordShipped
from streams.settings import Settings

CATALOG = SchemaCatalog(Settings().schemas_dir)
MODELS = list(TopicRegistry().value_models())
CODEC = AvroCodec(CATALOG, MODELS)
UNCOMPILED = {"SetOnHand", "RecordReceipt", "RecordShipment", "ReserveInventory"}
"""Models whose constraints (quantities > 0) the schema does not guarantee: validated.
``PauseTarget`` (inside ``TargetPaused``/``TargetResumed``) checks its flow version."""


def _same(decoded: BaseModel, reference: BaseModel) -> None:
    """Equal, and of the same types all the way down (an enum is not its string)."""
    assert type(decoded) is type(reference)
    assert decoded == reference
    assert repr(decoded) == repr(reference)
    assert decoded.model_fields_set == reference.model_fields_set
    assert decoded.model_dump_json() == reference.model_dump_json()


def _compiled(data: bytes) -> BaseModel | None:
    """The compiled reader's model, read directly (no fallback); None without a reader."""
    read = CODEC._readers.get(data[:10])
    if read is None:
        return None
    value, end = read(data, 10)
    assert end == len(data)
    assert isinstance(value, BaseModel)
    return value


def test_every_order_command_and_event_compiles() -> None:
    missing = {n.rsplit(".", 1)[-1] for n in CODEC._model_of if CODEC._prefix[n] not in CODEC._readers}
    assert missing <= UNCOMPILED | {"TargetPaused", "TargetResumed"}
    assert any(name.startswith("oms.commands.") for name in CODEC._model_of)


def test_journey_records_decode_to_the_validated_models() -> None:
    for record in journey_records():
        data = CODEC.encode(record)
        compiled = _compiled(data)
        assert compiled is not None, type(record).__name__
        _same(compiled, CODEC._decode_validated(data))
        _same(CODEC.decode(data), CODEC._decode_validated(data))


def test_a_value_the_model_refuses_is_refused_the_reference_way() -> None:
    good = next(r for r in journey_records() if isinstance(r, RecordShipped))
    data = CODEC.encode(good)
    bad = data.replace(b"\x06fno", b"\x06xyz")  # not a Provider
    assert bad != data
    with pytest.raises(UndecodableRecord, match="invalid fields"):
        CODEC.decode(bad)


def test_a_truncated_body_is_undecodable() -> None:
    data = CODEC.encode(journey_records()[0])
    with pytest.raises(UndecodableRecord):
        CODEC.decode(data[:-3])


def test_trailing_bytes_go_the_reference_way() -> None:
    data = CODEC.encode(journey_records()[1])
    _same(CODEC.decode(data + b"\x00"), CODEC._decode_validated(data + b"\x00"))


class _Constrained(BaseModel):
    quantity: int = Field(gt=0)


class _Chosen(BaseModel):
    outcome: Literal["a", "b"]


def test_a_constrained_model_is_left_to_validation() -> None:
    schema = fastavro.parse_schema(
        {"type": "record", "name": "_Constrained", "fields": [{"name": "quantity", "type": "long"}]}
    )
    assert reader_of(schema, _Constrained) is None


def test_a_literal_outside_its_values_is_refused() -> None:
    schema = fastavro.parse_schema(
        {"type": "record", "name": "_Chosen", "fields": [{"name": "outcome", "type": "string"}]}
    )
    read = reader_of(schema, _Chosen)
    assert read is not None
    assert read(b"\x02a", 0)[0] == _Chosen(outcome="a")
    with pytest.raises(ValueError):
        read(b"\x02c", 0)


@settings(max_examples=5, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_any_valid_model_decodes_to_the_validated_model(model: type[BaseModel], data: st.DataObject) -> None:
    try:
        value = data.draw(st.builds(model))
        encoded = CODEC.encode(value)
        reference = CODEC._decode_validated(encoded)
    except (ValidationError, TypeError, ValueError, OverflowError, UndecodableRecord):
        assume(False)  # a strategy hypothesis infers can break a validator, or Avro's ranges
        return
    _same(CODEC.decode(encoded), reference)
    compiled = _compiled(encoded)
    if compiled is not None:
        _same(compiled, reference)
