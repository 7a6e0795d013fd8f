"""Avro binary encoding of the core's models, compiled once per record schema.

``fastavro.schemaless_writer`` takes a dict (``model_dump``) and resolves each union by
validating the value against every branch; for an event that is most of what encoding
costs the order writer (BENCHMARKS.md, "What limits the write side"). Our schemas use a
small closed set of Avro types (records, arrays, maps, ``["null", X]`` unions, the
primitives, ``timestamp-micros``, ``date`` and ``decimal``), so each record schema
is written out here once as Python source (a function per record type, every field's
encoding inlined) that reads the model's attributes directly: no dict, no union search,
no call per field. A timestamp of our era is written in four table look-ups rather than
a varint loop, and a decimal's bytes are kept by its exact value (prices repeat, and
fastavro's conversion is the costliest field there is). The bytes are Avro's, so readers
and the schema lock see no difference; ``AvroCodec`` falls back to fastavro for a schema
outside the set and for a value a writer refuses, and a unit test holds the two byte for
byte on every journey's records.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from fastavro.write import LOGICAL_WRITERS

Write = Callable[[Any, bytearray], None]
"""Appends one value's Avro encoding to the buffer."""

REFUSED = (AttributeError, TypeError, ValueError, OverflowError, KeyError, struct.error)
"""What a writer raises for a value it cannot write (the codec then asks fastavro, which
writes it or says why not)."""

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_LONG_MIN, _LONG_MAX = -(1 << 63), (1 << 63) - 1
_pack_double = struct.Struct("<d").pack

_PAIRS = tuple(bytes((i & 0x7F | 0x80, i >> 7 | 0x80)) for i in range(1 << 14))
"""14 bits as two varint bytes, both with the continuation bit set."""
_LAST_PAIRS = tuple(bytes((i & 0x7F | 0x80, i >> 7)) for i in range(1 << 14))
"""14 bits as the last two varint bytes."""
_EIGHT_BYTES = (1 << 48, 1 << 55)
"""The microseconds since 1970 (1978 to 3111) whose varint is eight bytes, written in four
lookups: a timestamp costs a loop of eight appends otherwise, 1.7 per event."""

DECIMALS_KEPT = 4096
"""Encoded decimals each field keeps (prices repeat; fastavro's conversion costs 2 us)."""


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


def encode_decimal(value: Decimal, schema: dict[str, Any], kept: dict[str, bytes]) -> bytes:
    """``value`` as the bytes of a ``decimal`` field (length and two's complement, by
    fastavro's own conversion), kept by its exact representation (``str``: 1.5 and 1.50
    differ, as they do to the conversion's precision check)."""
    unscaled: bytes = LOGICAL_WRITERS["bytes-decimal"](value, schema)
    out = bytearray()
    write_long(len(unscaled), out)
    out += unscaled
    if len(kept) >= DECIMALS_KEPT:
        kept.clear()
    encoded = kept[str(value)] = bytes(out)
    return encoded


_PRIMITIVES = ("string", "long", "int", "boolean", "double", "bytes")


class _Source:
    """The Python source of one schema's writer: a function per record type, each field's
    encoding inlined, compiled with ``exec``."""

    def __init__(self, named: Mapping[str, Any]) -> None:
        self.named = named
        self.lines: list[str] = []
        """The function being written."""
        self.done: list[str] = []
        """The functions written."""
        self.scope: dict[str, Any] = {
            "_write_long": write_long,
            "_pack_double": _pack_double,
            "_datetime": datetime,
            "_Decimal": Decimal,
            "_EPOCH": _EPOCH,
            "_MICROSECOND": _MICROSECOND,
            "_PAIRS": _PAIRS,
            "_LAST_PAIRS": _LAST_PAIRS,
            "_encode_decimal": encode_decimal,
        }
        self.functions: dict[str, str] = {}
        self._n = 0

    def fresh(self, stem: str) -> str:
        self._n += 1
        return f"{stem}{self._n}"

    def bind(self, value: Any, stem: str) -> str:
        name = self.fresh(stem)
        self.scope[name] = value
        return name

    def emit(self, indent: int, *lines: str) -> None:
        self.lines += ["    " * indent + line for line in lines]

    def value(self, schema: Any, v: str, indent: int) -> None:
        """Code that appends the encoding of the value in variable ``v`` to ``out``."""
        if isinstance(schema, str):
            if schema in _PRIMITIVES:
                return self.primitive(schema, v, indent)
            if schema in self.named:
                return self.value(self.named[schema], v, indent)
            raise Unsupported(schema)
        if isinstance(schema, list):
            if len(schema) != 2 or schema[0] != "null":
                raise Unsupported(f"union {schema}")
            self.emit(indent, f"if {v} is None:", "    out.append(0)", "else:")
            self.emit(indent + 1, "out.append(2)")  # branch 1, zig-zag
            return self.value(schema[1], v, indent + 1)
        kind, logical = schema["type"], schema.get("logicalType")
        if logical == "timestamp-micros" and kind == "long":
            return self.timestamp(schema, v, indent)
        if logical is not None:
            return self.logical(schema, v, indent)
        if kind == "record":
            self.emit(indent, f"{self.record(schema)}({v}, out)")
            return None
        if kind in ("array", "map"):
            return self.container(schema, v, indent)
        return self.value(kind, v, indent)

    def primitive(self, kind: str, v: str, indent: int) -> None:
        if kind == "string":
            data = self.fresh("b")
            self.emit(
                indent,
                f"{data} = {v}.encode()",
                f"if len({data}) < 64:",
                f"    out.append(len({data}) << 1)",
                "else:",
                f"    _write_long(len({data}), out)",
                f"out += {data}",
            )
        elif kind in ("long", "int"):
            self.emit(indent, f"if type({v}) is int and 0 <= {v} < 64:", f"    out.append({v} << 1)")
            self.emit(indent, "else:", f"    _write_long({v}, out)")
        elif kind == "boolean":
            self.emit(indent, f"if type({v}) is not bool:", f"    raise TypeError({v})")
            self.emit(indent, f"out.append(1 if {v} else 0)")
        elif kind == "double":
            self.emit(indent, f"out += _pack_double({v})")
        else:  # bytes
            self.emit(indent, f"_write_long(len({v}), out)", f"out += {v}")

    def timestamp(self, schema: dict[str, Any], v: str, indent: int) -> None:
        prepare = self.bind(LOGICAL_WRITERS["long-timestamp-micros"], "_prepare")
        at, n = self.bind(schema, "_schema"), self.fresh("n")
        low, high = _EIGHT_BYTES
        self.emit(
            indent,
            f"if type({v}) is _datetime and {v}.tzinfo is not None:",
            f"    {n} = ({v} - _EPOCH) // _MICROSECOND",
            f"    if {low:#x} <= {n} < {high:#x}:",
            f"        {n} <<= 1",
            f"        out += _PAIRS[{n} & 0x3FFF]",
            f"        out += _PAIRS[{n} >> 14 & 0x3FFF]",
            f"        out += _PAIRS[{n} >> 28 & 0x3FFF]",
            f"        out += _LAST_PAIRS[{n} >> 42]",
            "    else:",
            f"        _write_long({n}, out)",
            "else:  # naive times and plain ints: fastavro's own conversion",
            f"    _write_long({prepare}({v}, {at}), out)",
        )

    def logical(self, schema: dict[str, Any], v: str, indent: int) -> None:
        """``date`` and ``decimal`` through fastavro's own conversions (exact by construction)."""
        key = f"{schema['type']}-{schema['logicalType']}"
        if key not in ("int-date", "bytes-decimal"):
            raise Unsupported(key)
        prepare, at = self.bind(LOGICAL_WRITERS[key], "_prepare"), self.bind(schema, "_schema")
        base = self.fresh("p")
        if key == "bytes-decimal":
            kept, encoded = self.bind({}, "_decimals"), self.fresh("e")
            self.emit(
                indent,
                f"if type({v}) is _Decimal:",
                f"    {encoded} = {kept}.get(str({v}))",
                f"    if {encoded} is None:",
                f"        {encoded} = _encode_decimal({v}, {at}, {kept})",
                f"    out += {encoded}",
                "else:",
            )
            indent += 1
        self.emit(indent, f"{base} = {prepare}({v}, {at})")
        self.primitive(schema["type"], base, indent)

    def container(self, schema: dict[str, Any], v: str, indent: int) -> None:
        item = self.fresh("i")
        self.emit(indent, f"if {v}:", f"    _write_long(len({v}), out)")
        if schema["type"] == "array":
            self.emit(indent + 1, f"for {item} in {v}:")
            self.value(schema["items"], item, indent + 2)
        else:
            key = self.fresh("k")
            self.emit(indent + 1, f"for {key}, {item} in {v}.items():")
            self.primitive("string", key, indent + 2)
            self.value(schema["values"], item, indent + 2)
        self.emit(indent, "out.append(0)")

    def record(self, schema: Mapping[str, Any]) -> str:
        name = schema["name"]
        if name in self.functions:
            return self.functions[name]
        function = self.functions[name] = self.fresh("_write_")
        outer, self.lines = self.lines, [f"def {function}(value, out):"]
        for field in schema["fields"]:
            v = self.fresh("f")
            self.emit(1, f"{v} = value.{field['name']}")
            self.value(field["type"], v, 1)
        self.emit(1, "return None")
        self.done += [*self.lines, ""]
        self.lines = outer
        return function

    def compiled(self, function: str, what: str) -> Write:
        exec(compile("\n".join(self.done), f"<avro writer of {what}>", "exec"), self.scope)
        write: Write = self.scope[function]
        return write


def compile_writer(schema: Any, named: Mapping[str, Any]) -> Write:
    """The writer of a parsed schema (``named``: its ``__named_schemas``); raises
    ``Unsupported`` for a type outside the set."""
    source = _Source(named)
    if isinstance(schema, dict) and schema.get("type") == "record":
        return source.compiled(source.record(schema), schema["name"])
    source.lines = ["def _write(value, out):"]
    source.value(schema, "value", 1)
    source.done += source.lines
    return source.compiled("_write", str(schema))


def writer_of(parsed: Mapping[str, Any]) -> Write | None:
    """The compiled writer of a parsed top-level record schema, or None to use fastavro."""
    try:
        return compile_writer(parsed, parsed.get("__named_schemas", {}))
    except Unsupported:
        return None
