"""Avro binary decoding straight into the core's models, compiled once per record schema.

Decoding an event was ``fastavro.schemaless_reader`` (a generic walk of the schema that
builds a dict, then logical-type conversions) followed by pydantic's validation of that
dict: together half of a replay's CPU (bench/notes-replayspeed.md). The writer's schema
already fixes every value's type, so each record schema compiles here, beside its model,
into one generated Python function that reads the fields from the bytes (short strings,
longs, timestamps, enums and their optionals inline; arrays, maps and nested records by
small readers) and assembles the model without validating it again (``Value.assemble``):
what validation would build, as a unit test checks on every journey's records and on
hypothesis-built instances of every model.

Only what needs no validation compiles: our closed set of Avro types (as ``avro_writer``)
read into fields of plain types (``str``, ``int``, ``bool``, ``float``, ``bytes``,
``datetime``, ``date``, ``Decimal``), string enums and literals (checked by a lookup),
``X | None``, ``tuple[X, ...]``, ``dict[str, X]`` and nested ``Value`` models that have
no validators and no constraints. A record outside the set, and any record whose bytes a
reader refuses, goes the reference way (fastavro and pydantic), which decodes it or says
why not.
"""

from __future__ import annotations

import struct
import types
import typing
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any

from fastavro.read import LOGICAL_READERS
from pydantic import BaseModel

from streams.domain.values import Value

Read = Callable[[bytes, int], tuple[Any, int]]
"""Reads one value from ``data`` at ``pos``: the value and the position after it."""

REFUSED = (IndexError, KeyError, ValueError, TypeError, OverflowError, ArithmeticError, struct.error)
"""What a reader raises on bytes it cannot read (the codec then asks fastavro and pydantic,
which decode them or say why not). ``UnicodeDecodeError`` is a ``ValueError``."""

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_unpack_double = struct.Struct("<d").unpack_from
_NONE_TYPE = type(None)


class Unsupported(Exception):
    """A schema or model this module does not compile (fastavro and pydantic decode it)."""


def read_long(data: bytes, pos: int) -> tuple[int, int]:
    """Zig-zag varint, as Avro's ``int`` and ``long``."""
    b = data[pos]
    pos += 1
    n = b & 0x7F
    shift = 7
    while b & 0x80:
        b = data[pos]
        pos += 1
        n |= (b & 0x7F) << shift
        shift += 7
        if shift > 70:
            raise OverflowError("varint longer than an Avro long")
    return (n >> 1) ^ -(n & 1), pos


def _span(data: bytes, pos: int) -> tuple[int, int]:
    """Where a string's or bytes' content starts and ends (the length is checked)."""
    b = data[pos]
    if b < 0x80 and not b & 1:  # a length under 64: one byte
        start, end = pos + 1, pos + 1 + (b >> 1)
    else:
        size, start = read_long(data, pos)
        if size < 0:
            raise ValueError(f"negative length {size}")
        end = start + size
    if end > len(data):
        raise ValueError("length runs past the record")
    return start, end


def read_string(data: bytes, pos: int) -> tuple[str, int]:
    b = data[pos]
    if b < 0x80 and not b & 1:  # the common case, inline: a length under 64
        end = pos + 1 + (b >> 1)
        if end <= len(data):
            return data[pos + 1 : end].decode(), end
    start, end = _span(data, pos)
    return data[start:end].decode(), end


def read_bytes(data: bytes, pos: int) -> tuple[bytes, int]:
    start, end = _span(data, pos)
    return data[start:end], end


def read_boolean(data: bytes, pos: int) -> tuple[bool, int]:
    b = data[pos]
    if b > 1:
        raise ValueError(f"boolean byte {b}")
    return b == 1, pos + 1


def read_double(data: bytes, pos: int) -> tuple[float, int]:
    return _unpack_double(data, pos)[0], pos + 8


def read_timestamp_micros(data: bytes, pos: int) -> tuple[datetime, int]:
    """As fastavro reads it: UTC, from the epoch."""
    micros, pos = read_long(data, pos)
    return _EPOCH + timedelta(0, 0, micros), pos  # positional: twice as fast as by keyword


def _logical(schema: Mapping[str, Any], base: Read) -> Read:
    """``date`` and ``decimal`` through fastavro's own conversions (exact by construction)."""
    convert = LOGICAL_READERS[f"{schema['type']}-{schema['logicalType']}"]
    plain = dict(schema)

    def read(data: bytes, pos: int) -> tuple[Any, int]:
        raw, pos = base(data, pos)
        return convert(raw, plain, plain), pos

    return read


def _optional(branch: Read) -> Read:
    def read(data: bytes, pos: int) -> tuple[Any, int]:
        b = data[pos]
        if b == 0:
            return None, pos + 1
        if b != 2:  # branch 1, zig-zag
            raise ValueError(f"union branch byte {b}")
        return branch(data, pos + 1)

    read.branch = branch  # type: ignore[attr-defined]  # inlined by _record
    return read


def _blocks(items: Read) -> Callable[[bytes, int], tuple[list[Any], int]]:
    """An array's items, block by block (a negative count is followed by the block's size)."""

    def read(data: bytes, pos: int) -> tuple[list[Any], int]:
        out: list[Any] = []
        count, pos = read_long(data, pos)
        while count:
            if count < 0:
                count = -count
                _size, pos = read_long(data, pos)
            for _ in range(count):
                item, pos = items(data, pos)
                out.append(item)
            count, pos = read_long(data, pos)
        return out, pos

    return read


def _array(items: Read) -> Read:
    blocks = _blocks(items)

    def read(data: bytes, pos: int) -> tuple[tuple[Any, ...], int]:
        if data[pos] == 0:
            return (), pos + 1
        out, pos = blocks(data, pos)
        return tuple(out), pos

    return read


def _map(values: Read) -> Read:
    def entry(data: bytes, pos: int) -> tuple[tuple[str, Any], int]:
        key, pos = read_string(data, pos)
        value, pos = values(data, pos)
        return (key, value), pos

    blocks = _blocks(entry)

    def read(data: bytes, pos: int) -> tuple[dict[str, Any], int]:
        if data[pos] == 0:
            return {}, pos + 1
        out, pos = blocks(data, pos)
        return dict(out), pos

    return read


def _lookup(choices: Mapping[str, Any]) -> Read:
    """A string that must be one of ``choices`` (an enum's values, a literal's)."""

    def read(data: bytes, pos: int) -> tuple[Any, int]:
        value, pos = read_string(data, pos)
        return choices[value], pos

    read.choices = choices  # type: ignore[attr-defined]  # inlined by _record
    return read


_PLAIN: dict[tuple[str, Any], Read] = {
    ("string", str): read_string,
    ("long", int): read_long,
    ("int", int): read_long,
    ("boolean", bool): read_boolean,
    ("double", float): read_double,
    ("bytes", bytes): read_bytes,
}
"""(Avro type, field type) pairs read as they are."""


def _strings(annotation: Any) -> Read:
    """A string into an enum or a literal field: the value must be one of its choices."""
    if isinstance(annotation, type) and issubclass(annotation, StrEnum):
        return _lookup(dict(annotation._value2member_map_))
    if typing.get_origin(annotation) is typing.Literal:
        choices = typing.get_args(annotation)
        if all(isinstance(c, str) for c in choices):
            return _lookup({c: c for c in choices})
    raise Unsupported(f"string into {annotation!r}")


def _optional_of(annotation: Any) -> Any:
    """``X`` of ``X | None``."""
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) not in (typing.Union, types.UnionType) or len(args) != 2:
        raise Unsupported(f"['null', X] into {annotation!r}")
    if args[1] is _NONE_TYPE:
        return args[0]
    raise Unsupported(f"['null', X] into {annotation!r}")


def _item_of(annotation: Any, origin: type, arity: int) -> Any:
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) is not origin or len(args) != arity:
        raise Unsupported(f"{origin.__name__} into {annotation!r}")
    if origin is tuple and args[1] is not Ellipsis:
        raise Unsupported(f"array into {annotation!r}")
    if origin is dict and args[0] is not str:
        raise Unsupported(f"map into {annotation!r}")
    return args[0] if origin is tuple else args[1]


def compile_reader(schema: Any, annotation: Any, named: Mapping[str, Any]) -> Read:
    """The reader of a parsed schema into a field of type ``annotation`` (``named``: the
    schema's ``__named_schemas``); raises ``Unsupported`` outside the set."""
    if isinstance(schema, str):
        if schema in named:
            return compile_reader(named[schema], annotation, named)
        plain = _PLAIN.get((schema, annotation))
        if plain is not None:
            return plain
        if schema == "string":
            return _strings(annotation)
        raise Unsupported(f"{schema} into {annotation!r}")
    if isinstance(schema, list):
        if len(schema) != 2 or schema[0] != "null":
            raise Unsupported(f"union {schema}")
        return _optional(compile_reader(schema[1], _optional_of(annotation), named))
    kind, logical = schema["type"], schema.get("logicalType")
    if logical is not None:
        return _logical_reader(schema, kind, logical, annotation)
    if kind == "record":
        return _record(schema, annotation, named)
    if kind == "array":
        return _array(compile_reader(schema["items"], _item_of(annotation, tuple, 2), named))
    if kind == "map":
        return _map(compile_reader(schema["values"], _item_of(annotation, dict, 2), named))
    return compile_reader(kind, annotation, named)


def _logical_reader(schema: Mapping[str, Any], kind: str, logical: str, annotation: Any) -> Read:
    if (kind, logical, annotation) == ("long", "timestamp-micros", datetime):
        return read_timestamp_micros
    if (kind, logical, annotation) == ("int", "date", date):
        return _logical(schema, read_long)
    if (kind, logical, annotation) == ("bytes", "decimal", Decimal):
        return _logical(schema, read_bytes)
    raise Unsupported(f"{kind} ({logical}) into {annotation!r}")


def _plain_model(model: Any) -> type[Value]:
    """``model``, if assembling it from values of its fields' types is what validating would
    build: a ``Value`` with no validators, no constraints and no post-init hook."""
    if not (isinstance(model, type) and issubclass(model, Value)):
        raise Unsupported(f"record into {model!r}")
    hooks = model.__pydantic_decorators__
    if any((hooks.validators, hooks.field_validators, hooks.root_validators, hooks.model_validators)):
        raise Unsupported(f"{model.__name__} has validators")
    if model.model_post_init is not BaseModel.model_post_init:
        raise Unsupported(f"{model.__name__} has a post-init hook")
    constrained = [name for name, f in model.model_fields.items() if f.metadata]
    if constrained:
        raise Unsupported(f"{model.__name__} constrains {constrained}")
    return model


_INLINE_STRING = """\
b = data[pos]
if b < 128 and not b & 1 and pos + 1 + (b >> 1) <= size:
    end = pos + 1 + (b >> 1)
    {v} = data[pos + 1 : end].decode()
    pos = end
else:
    {v}, pos = read_string(data, pos)
"""
_INLINE_LONG = """\
b = data[pos]
if b < 128:
    {v} = (b >> 1) ^ -(b & 1)
    pos += 1
else:
    {v}, pos = read_long(data, pos)
"""
_INLINE_TIMESTAMP = """\
b = data[pos]
pos += 1
{v} = b & 127
shift = 7
while b & 128:
    b = data[pos]
    pos += 1
    {v} |= (b & 127) << shift
    shift += 7
{v} = EPOCH + timedelta(0, 0, ({v} >> 1) ^ -({v} & 1))
"""
"""A timestamp's varint is eight bytes long: read in the loop here, not by a call (a varint
too long for a long makes ``timedelta`` overflow, and the codec falls back)."""
_INLINE_OPTIONAL = """\
b = data[pos]
pos += 1
if b == 0:
    {v} = None
elif b != 2:
    raise ValueError(f"union branch byte {{b}}")
else:
"""
_NAMESPACE = {"read_string": read_string, "read_long": read_long, "EPOCH": _EPOCH, "timedelta": timedelta}


def _indent(code: str, by: str) -> str:
    return "".join(by + line for line in code.splitlines(keepends=True))


def _field_code(reader: Read, v: str, namespace: dict[str, Any]) -> str:
    """The source that reads one field into the local ``v``: the commonest readers inline
    (strings, longs, timestamps, enums, and these as ``X | None``), the others called."""
    if reader is read_string:
        return _INLINE_STRING.format(v=v)
    if reader is read_long:
        return _INLINE_LONG.format(v=v)
    if reader is read_timestamp_micros:
        return _INLINE_TIMESTAMP.format(v=v)
    inner = getattr(reader, "branch", None)
    if inner is not None:  # ["null", X]
        return _INLINE_OPTIONAL.format(v=v) + _indent(_field_code(inner, v, namespace), "    ")
    choices = getattr(reader, "choices", None)
    if choices is not None:
        namespace[f"choices_{v}"] = choices
        return _INLINE_STRING.format(v=v) + f"{v} = choices_{v}[{v}]\n"
    namespace[f"read_{v}"] = reader
    return f"{v}, pos = read_{v}(data, pos)\n"


_RECORDS: dict[tuple[type[Value], str], Read] = {}
"""Readers generated so far, by model and schema: each record is compiled once per process
(the envelope is in every event's schema)."""


def _record(schema: Mapping[str, Any], annotation: Any, named: Mapping[str, Any]) -> Read:
    """A record's reader, generated as one function: a call per field would cost more than
    reading most fields (a short string, a long)."""
    model = _plain_model(annotation)
    key = (model, repr(schema))
    if key not in _RECORDS:
        _RECORDS[key] = _generated(model, schema, named)
    return _RECORDS[key]


def _generated(model: type[Value], schema: Mapping[str, Any], named: Mapping[str, Any]) -> Read:
    fields = model.model_fields
    names = [f["name"] for f in schema["fields"]]
    if sorted(names) != sorted(fields):
        raise Unsupported(f"{model.__name__}'s fields are not its record's")
    namespace: dict[str, Any] = {**_NAMESPACE, "assemble": model.assemble}
    body = "".join(
        _field_code(compile_reader(f["type"], fields[f["name"]].annotation, named), f"v{i}", namespace)
        for i, f in enumerate(schema["fields"])
    )
    values = ", ".join(f"{name!r}: v{names.index(name)}" for name in fields)  # in the model's order
    source = (
        "def read(data, pos):\n    size = len(data)\n"
        + _indent(body, "    ")
        + f"    return assemble({{{values}}}), pos\n"
    )
    exec(compile(source, f"<avro reader of {model.__name__}>", "exec"), namespace)
    read: Read = namespace["read"]
    read.source = source  # type: ignore[attr-defined]  # for a reader of tracebacks
    return read


Decode = Callable[[bytes, int], BaseModel]
"""Decodes a record's body (from ``offset`` to the end of ``data``) into its model."""


def reader_of(parsed: Mapping[str, Any], model: type[BaseModel]) -> Decode | None:
    """The compiled reader of a parsed top-level record schema into ``model``, or None to
    decode with fastavro and pydantic. A body with bytes left over is refused too (fastavro
    would ignore them)."""
    try:
        read = compile_reader(parsed, model, parsed.get("__named_schemas", {}))
    except Unsupported:
        return None

    def decode(data: bytes, offset: int) -> BaseModel:
        value, end = read(data, offset)
        if end != len(data):
            raise ValueError(f"{len(data) - end} bytes after the record")
        return value  # type: ignore[no-any-return]

    return decode
