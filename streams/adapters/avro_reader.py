"""Avro binary decoding straight into the core's models, compiled once per record schema.

The reference decode is ``fastavro.schemaless_reader`` to a dict, then the model's
``model_validate``: for a command that is a fifth of the order writer's CPU (the reader
walks the schema per record, then pydantic checks again what the schema already
guarantees). The compiled writers' counterpart (``avro_writer``): each record schema,
paired with the model it decodes to, compiles into a tree of small readers that build the
model (nested models, tuples, enums, dates, decimals: what validation would make) without
a dict and without validating again. Where the schema does not guarantee the model's
shape (a validator, a constraint, a field type outside the closed set, fields in another
order) the record is not compiled and the codec keeps the reference path; a value a
reader cannot build (an unknown enum value, a truncated body) goes down that path too, so
its error is the reference's. A unit test holds both paths equal on every model.
"""

from __future__ import annotations

import struct
import types
from collections.abc import Callable, Mapping
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any, Literal, Union, get_args, get_origin

from fastavro.read import LOGICAL_READERS
from pydantic import BaseModel

Read = Callable[[bytes, int], tuple[Any, int]]
"""Reads one value at a position; returns it and the position after it."""

FAILED = (IndexError, ValueError, TypeError, KeyError, OverflowError, struct.error)
"""What a reader raises on bytes it cannot turn into the model (the codec then decodes the
reference way, which says why)."""

_set = object.__setattr__


class Unsupported(Exception):
    """A (schema, model) pair this module does not compile (the reference path decodes it)."""


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
    return (n >> 1) ^ -(n & 1), pos


def read_string(data: bytes, pos: int) -> tuple[str, int]:
    size = data[pos]
    if size < 0x80 and not size & 1:  # one-byte, non-negative length: most strings
        pos += 1
        size >>= 1
    else:
        size, pos = read_long(data, pos)
        if size < 0:
            raise ValueError("negative string length")
    end = pos + size
    return data[pos:end].decode(), end


def read_bytes(data: bytes, pos: int) -> tuple[bytes, int]:
    size, pos = read_long(data, pos)
    if size < 0:
        raise ValueError("negative bytes length")
    end = pos + size
    return data[pos:end], end


def read_boolean(data: bytes, pos: int) -> tuple[bool, int]:
    b = data[pos]
    if b > 1:
        raise ValueError(f"{b} is not a boolean")
    return b == 1, pos + 1


_unpack_double = struct.Struct("<d").unpack_from


def read_double(data: bytes, pos: int) -> tuple[float, int]:
    return _unpack_double(data, pos)[0], pos + 8


def _plain(annotation: Any) -> Any:
    """The annotation without ``| None`` (``X | None`` -> ``X``); None if it is no optional."""
    if get_origin(annotation) in (Union, types.UnionType):
        rest = [a for a in get_args(annotation) if a is not type(None)]
        if len(rest) == 1 and len(get_args(annotation)) == 2:
            return rest[0]
    return None


def _optional(branch: Read) -> Read:
    def read(data: bytes, pos: int) -> tuple[Any, int]:
        index = data[pos]
        if index == 0:
            return None, pos + 1
        if index != 2:  # branch 1, zig-zag
            raise ValueError(f"union branch {index}")
        return branch(data, pos + 1)

    return read


def _blocks(item: Read, build: Callable[[list[Any]], Any]) -> Read:
    """An array (``build`` makes the tuple or list) or, with pair items, a map."""

    def read(data: bytes, pos: int) -> tuple[Any, int]:
        out: list[Any] = []
        count, pos = read_long(data, pos)
        while count:
            if count < 0:  # a block with its size in bytes first
                count = -count
                _, pos = read_long(data, pos)
            for _ in range(count):
                value, pos = item(data, pos)
                out.append(value)
            count, pos = read_long(data, pos)
        return build(out), pos

    return read


def _pair(values: Read) -> Read:
    def read(data: bytes, pos: int) -> tuple[tuple[str, Any], int]:
        key, pos = read_string(data, pos)
        value, pos = values(data, pos)
        return (key, value), pos

    return read


def _enum(cls: type[Enum]) -> Read:
    def read(data: bytes, pos: int) -> tuple[Enum, int]:
        value, pos = read_string(data, pos)
        return cls(value), pos

    return read


def _literal(allowed: tuple[Any, ...]) -> Read:
    def read(data: bytes, pos: int) -> tuple[str, int]:
        value, pos = read_string(data, pos)
        if value not in allowed:
            raise ValueError(f"{value!r} is none of {allowed}")
        return value, pos

    return read


def _logical(schema: dict[str, Any], base: Read) -> Read:
    convert = LOGICAL_READERS[f"{schema['type']}-{schema['logicalType']}"]

    def read(data: bytes, pos: int) -> tuple[Any, int]:
        value, pos = base(data, pos)
        return convert(value, schema, schema), pos

    return read


_PRIMITIVES: dict[tuple[str, Any], Read] = {
    ("string", str): read_string,
    ("long", int): read_long,
    ("int", int): read_long,
    ("boolean", bool): read_boolean,
    ("bytes", bytes): read_bytes,
    ("double", float): read_double,
}
_LOGICAL: dict[tuple[str, str, Any], Read] = {
    ("long", "timestamp-micros", datetime): read_long,
    ("int", "date", date): read_long,
    ("bytes", "decimal", Decimal): read_bytes,
}


def _compiles(model: type[BaseModel]) -> bool:
    """Whether validation adds nothing to the schema's guarantees: no validators, no
    constraints, no private state, no post-init, no extra fields."""
    decorators = model.__pydantic_decorators__
    return not (
        decorators.validators
        or decorators.field_validators
        or decorators.root_validators
        or decorators.model_validators
        or model.__private_attributes__
        or model.__pydantic_post_init__ is not None
        or model.model_config.get("extra") == "allow"
        or any(f.metadata for f in model.model_fields.values())
    )


def _record(schema: Mapping[str, Any], model: type[BaseModel], named: Mapping[str, Any]) -> Read:
    names = [f["name"] for f in schema["fields"]]
    if names != list(model.model_fields) or not _compiles(model):
        raise Unsupported(model.__name__)
    fields = tuple(
        (f["name"], compile_reader(f["type"], model.model_fields[f["name"]].annotation, named))
        for f in schema["fields"]
    )
    new = model.__new__

    def read(data: bytes, pos: int) -> tuple[BaseModel, int]:
        values: dict[str, Any] = {}
        for name, reader in fields:
            values[name], pos = reader(data, pos)
        # What validation would build from these values, without validating them again.
        value = new(model)
        _set(value, "__dict__", values)
        _set(value, "__pydantic_fields_set__", set(values))
        _set(value, "__pydantic_extra__", None)
        _set(value, "__pydantic_private__", None)
        return value, pos

    return read


def _container(schema: Mapping[str, Any], annotation: Any, named: Mapping[str, Any]) -> Read:
    origin, args = get_origin(annotation), get_args(annotation)
    kind = schema["type"]
    if kind == "array" and origin is tuple and len(args) == 2 and args[1] is Ellipsis:
        return _blocks(compile_reader(schema["items"], args[0], named), tuple)
    if kind == "array" and origin is list and len(args) == 1:
        return _blocks(compile_reader(schema["items"], args[0], named), list)
    if kind == "map" and origin is dict and len(args) == 2 and args[0] is str:
        return _blocks(_pair(compile_reader(schema["values"], args[1], named)), dict)
    raise Unsupported(f"{kind} as {annotation}")


def compile_reader(schema: Any, annotation: Any, named: Mapping[str, Any]) -> Read:
    """The reader of a parsed schema into values of ``annotation`` (``named``: the schema's
    ``__named_schemas``); raises ``Unsupported`` for a pair outside the closed set."""
    if isinstance(schema, str):
        if schema in named:
            return compile_reader(named[schema], annotation, named)
        if isinstance(annotation, type) and issubclass(annotation, Enum) and schema == "string":
            if not issubclass(annotation, str):
                raise Unsupported(f"enum {annotation}")
            return _enum(annotation)
        if get_origin(annotation) is Literal and schema == "string":
            if not all(type(a) is str for a in get_args(annotation)):
                raise Unsupported(f"literal {annotation}")
            return _literal(get_args(annotation))
        found = _PRIMITIVES.get((schema, annotation))
        if found is None:
            raise Unsupported(f"{schema} as {annotation}")
        return found
    if isinstance(schema, list):
        plain = _plain(annotation)
        if len(schema) != 2 or schema[0] != "null" or plain is None:
            raise Unsupported(f"union {schema} as {annotation}")
        return _optional(compile_reader(schema[1], plain, named))
    kind, logical = schema["type"], schema.get("logicalType")
    if logical is not None:
        base = _LOGICAL.get((kind, logical, annotation))
        if base is None:
            raise Unsupported(f"{kind}-{logical} as {annotation}")
        return _logical(schema, base)
    if kind == "record":
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            raise Unsupported(f"record as {annotation}")
        return _record(schema, annotation, named)
    if kind in ("array", "map"):
        return _container(schema, annotation, named)
    return compile_reader(kind, annotation, named)


def reader_of(parsed: Mapping[str, Any], model: type[BaseModel]) -> Read | None:
    """The compiled reader of a parsed top-level record schema into ``model``, or None
    for the reference path."""
    try:
        return compile_reader(parsed, model, parsed.get("__named_schemas", {}))
    except Unsupported:
        return None
