"""Avro binary encoding of the core's models, compiled once per record schema.

``fastavro.schemaless_writer`` takes a dict (``model_dump``) and resolves each union by
validating the value against every branch; for an event that is most of what encoding
costs the order writer (BENCHMARKS.md, "What limits the write side"). Our schemas use a
small closed set of Avro types (records, arrays, maps, ``["null", X]`` unions, the
primitives, ``timestamp-micros``, ``date`` and ``decimal``), so each record schema
compiles here into a tree of small writers that read the model's attributes directly:
no dict, no union search. The bytes are Avro's, so readers and the schema lock see no
difference; ``AvroCodec`` falls back to fastavro for a schema outside the set and for a
value a writer refuses, and a unit test holds the two byte for byte on every journey's
records.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from operator import attrgetter
from typing import Any

from fastavro.write import LOGICAL_WRITERS

Write = Callable[[Any, bytearray], None]
"""Appends one value's Avro encoding to the buffer."""

REFUSED = (AttributeError, TypeError, ValueError, OverflowError, KeyError, struct.error)
"""What a writer raises for a value it cannot write (the codec then asks fastavro, which
writes it or says why not)."""

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_LONG_MIN, _LONG_MAX = -(1 << 63), (1 << 63) - 1
_pack_double = struct.Struct("<d").pack


class Unsupported(Exception):
    """A schema this module does not compile (fastavro writes it)."""


def write_long(n: int, out: bytearray) -> None:
    """Zig-zag varint, as Avro's ``int`` and ``long``."""
    if not _LONG_MIN <= n <= _LONG_MAX:
        raise OverflowError(f"{n} does not fit an Avro long")
    n = (n << 1) ^ (n >> 63)
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)


def write_string(value: str, out: bytearray) -> None:
    data = value.encode()
    size = len(data)
    if size < 64:
        out.append(size << 1)
    else:
        write_long(size, out)
    out += data


def write_bytes(value: bytes, out: bytearray) -> None:
    write_long(len(value), out)
    out += value


def write_boolean(value: bool, out: bytearray) -> None:
    if type(value) is not bool:
        raise TypeError(f"{value!r} is not a boolean")
    out.append(1 if value else 0)


def write_double(value: float, out: bytearray) -> None:
    out += _pack_double(value)


_PRIMITIVES: dict[str, Write] = {
    "string": write_string,
    "long": write_long,
    "int": write_long,
    "boolean": write_boolean,
    "double": write_double,
    "bytes": write_bytes,
}


def _timestamp_micros(schema: dict[str, Any]) -> Write:
    prepare = LOGICAL_WRITERS["long-timestamp-micros"]

    def write(value: Any, out: bytearray) -> None:
        if type(value) is datetime and value.tzinfo is not None:
            delta = value - _EPOCH
            write_long((delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds, out)
        else:  # naive times and plain ints: fastavro's own conversion
            write_long(prepare(value, schema), out)

    return write


def _logical(schema: dict[str, Any]) -> Write:
    """``date`` and ``decimal`` through fastavro's own conversions (exact by construction)."""
    key = f"{schema['type']}-{schema['logicalType']}"
    if key not in ("int-date", "bytes-decimal"):
        raise Unsupported(key)
    prepare = LOGICAL_WRITERS[key]
    base = _PRIMITIVES[schema["type"]]

    def write(value: Any, out: bytearray) -> None:
        base(prepare(value, schema), out)

    return write


def _optional(branch: Write) -> Write:
    def write(value: Any, out: bytearray) -> None:
        if value is None:
            out.append(0)
        else:
            out.append(2)  # branch 1, zig-zag
            branch(value, out)

    return write


def _array(items: Write) -> Write:
    def write(value: Any, out: bytearray) -> None:
        if value:
            write_long(len(value), out)
            for item in value:
                items(item, out)
        out.append(0)

    return write


def _map(values: Write) -> Write:
    def write(value: Any, out: bytearray) -> None:
        if value:
            write_long(len(value), out)
            for key, item in value.items():
                write_string(key, out)
                values(item, out)
        out.append(0)

    return write


def _record(schema: Mapping[str, Any], named: Mapping[str, Any]) -> Write:
    names = [f["name"] for f in schema["fields"]]
    writers = tuple(compile_writer(f["type"], named) for f in schema["fields"])
    if not names:
        return lambda value, out: None
    get = attrgetter(*names)
    if len(names) == 1:
        only = writers[0]

        def write_one(value: Any, out: bytearray) -> None:
            only(get(value), out)

        return write_one

    def write(value: Any, out: bytearray) -> None:
        for writer, item in zip(writers, get(value), strict=True):
            writer(item, out)

    return write


def compile_writer(schema: Any, named: Mapping[str, Any]) -> Write:
    """The writer of a parsed schema (``named``: its ``__named_schemas``); raises
    ``Unsupported`` for a type outside the set."""
    if isinstance(schema, str):
        if schema in _PRIMITIVES:
            return _PRIMITIVES[schema]
        if schema in named:
            return compile_writer(named[schema], named)
        raise Unsupported(schema)
    if isinstance(schema, list):
        if len(schema) != 2 or schema[0] != "null":
            raise Unsupported(f"union {schema}")
        return _optional(compile_writer(schema[1], named))
    kind, logical = schema["type"], schema.get("logicalType")
    if logical == "timestamp-micros" and kind == "long":
        return _timestamp_micros(schema)
    if logical is not None:
        return _logical(schema)
    if kind == "record":
        return _record(schema, named)
    if kind == "array":
        return _array(compile_writer(schema["items"], named))
    if kind == "map":
        return _map(compile_writer(schema["values"], named))
    return compile_writer(kind, named)


def writer_of(parsed: Mapping[str, Any]) -> Write | None:
    """The compiled writer of a parsed top-level record schema, or None to use fastavro."""
    try:
        return compile_writer(parsed, parsed.get("__named_schemas", {}))
    except Unsupported:
        return None
