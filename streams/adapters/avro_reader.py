"""Avro binary decoding straight into the core's models, compiled once per record schema.

The reference decode is ``fastavro.schemaless_reader`` to a dict, then the model's
``model_validate``: for a command that is a fifth of the order writer's CPU (the reader
walks the schema per record, then pydantic checks again what the schema already
guarantees). Here each record schema, paired with the model it decodes to, is written out
once as Python source (a function per record type, every field's decoding inlined: no call
and no tuple per field) that builds the model as validation would (nested models, tuples,
enum members, dates, decimals) without a dict and without validating again. Where the
schema does not guarantee the model's shape (a validator, a constraint, a field type
outside the closed set, fields in another order) the record is not compiled and the codec
keeps the reference path; a value a reader cannot build (an unknown enum value, a
truncated body) goes down that path too, so its error is the reference's. A unit test
holds both paths equal on every model. The counterpart of ``avro_writer``.
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


_unpack_double = struct.Struct("<d").unpack_from


def _plain(annotation: Any) -> Any:
    """The annotation without ``| None`` (``X | None`` -> ``X``); None if it is no optional."""
    if get_origin(annotation) in (Union, types.UnionType):
        rest = [a for a in get_args(annotation) if a is not type(None)]
        if len(rest) == 1 and len(get_args(annotation)) == 2:
            return rest[0]
    return None


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


_LOGICAL: dict[tuple[str, str], Any] = {
    ("long", "timestamp-micros"): datetime,
    ("int", "date"): date,
    ("bytes", "decimal"): Decimal,
}
"""The logical types a reader converts (with fastavro's own conversions), and to what."""


class _Source:
    """The Python source of one record's readers: one function per record type, each
    field's decoding inlined (no call and no tuple per field), compiled with ``exec``."""

    def __init__(self, named: Mapping[str, Any]) -> None:
        self.named = named
        self.lines: list[str] = []
        """The function being written."""
        self.done: list[str] = []
        """The functions written."""
        self.scope: dict[str, Any] = {
            "_read_long": read_long,
            "_unpack_double": _unpack_double,
            "_set": _set,
        }
        self.functions: dict[tuple[str, type[BaseModel]], str] = {}
        self._n = 0

    def fresh(self, stem: str) -> str:
        self._n += 1
        return f"{stem}{self._n}"

    def bind(self, value: Any, stem: str = "_k") -> str:
        name = self.fresh(stem)
        self.scope[name] = value
        return name

    def emit(self, indent: int, *lines: str) -> None:
        self.lines += ["    " * indent + line for line in lines]

    # -- values: each emits code that leaves the value in a fresh variable, ``pos`` after it
    def value(self, schema: Any, annotation: Any, indent: int) -> str:
        if isinstance(schema, str) and schema in self.named:
            return self.value(self.named[schema], annotation, indent)
        if isinstance(schema, list):
            return self.optional(schema, annotation, indent)
        if isinstance(schema, dict):
            kind, logical = schema["type"], schema.get("logicalType")
            if logical is not None:
                return self.logical(schema, annotation, indent)
            if kind == "record":
                return self.record_call(schema, annotation, indent)
            if kind in ("array", "map"):
                return self.container(schema, annotation, indent)
            schema = kind
        return self.primitive(schema, annotation, indent)

    def primitive(self, kind: Any, annotation: Any, indent: int) -> str:
        if kind == "string":
            if isinstance(annotation, type) and issubclass(annotation, Enum):
                if not issubclass(annotation, str):
                    raise Unsupported(f"enum {annotation}")
                v = self.string(indent)  # its member by value (what ``Enum(v)`` looks up)
                self.emit(indent, f"{v} = {self.bind(annotation._value2member_map_, '_members')}[{v}]")
                return v
            if get_origin(annotation) is Literal:
                allowed = get_args(annotation)
                if not all(type(a) is str for a in allowed):
                    raise Unsupported(f"literal {annotation}")
                v = self.string(indent)
                self.emit(
                    indent, f"if {v} not in {self.bind(frozenset(allowed))}:", f"    raise ValueError({v})"
                )
                return v
            if annotation is str:
                return self.string(indent)
        readers = {("long", int), ("int", int), ("boolean", bool), ("bytes", bytes), ("double", float)}
        if (kind, annotation) not in readers:
            raise Unsupported(f"{kind} as {annotation}")
        return self.raw(kind, indent)

    def raw(self, kind: str, indent: int) -> str:
        """A primitive's Avro value as is (also the base of a logical type)."""
        v = self.fresh("v")
        if kind == "string":
            return self.string(indent)
        if kind in ("long", "int"):
            self.emit(
                indent,
                f"{v} = data[pos]",
                f"if {v} < 0x80:",
                "    pos += 1",
                f"    {v} = ({v} >> 1) ^ -({v} & 1)",
                "else:",
                f"    {v}, pos = _read_long(data, pos)",
            )
        elif kind == "boolean":
            self.emit(indent, f"{v} = data[pos]", f"if {v} > 1:", f"    raise ValueError({v})")
            self.emit(indent, f"{v} = {v} == 1", "pos += 1")
        elif kind == "double":
            self.emit(indent, f"{v} = _unpack_double(data, pos)[0]", "pos += 8")
        elif kind == "bytes":
            self.emit(
                indent, f"{v}, pos = _read_long(data, pos)", f"if {v} < 0:", f"    raise ValueError({v})"
            )
            self.emit(indent, f"{v}, pos = data[pos : pos + {v}], pos + {v}")
        else:
            raise Unsupported(kind)
        return v

    def string(self, indent: int) -> str:
        v = self.fresh("v")
        self.emit(
            indent,
            f"{v} = data[pos]",
            f"if {v} < 0x80 and not {v} & 1:",  # a one-byte, non-negative length: most strings
            "    pos += 1",
            f"    {v} >>= 1",
            "else:",
            f"    {v}, pos = _read_long(data, pos)",
            f"    if {v} < 0:",
            f"        raise ValueError({v})",
            f"{v}, pos = data[pos : pos + {v}].decode(), pos + {v}",
        )
        return v

    def logical(self, schema: dict[str, Any], annotation: Any, indent: int) -> str:
        key = (schema["type"], schema["logicalType"])
        if _LOGICAL.get(key) is not annotation:
            raise Unsupported(f"{key} as {annotation}")
        convert = self.bind(LOGICAL_READERS["-".join(key)], "_logical")
        at = self.bind(schema, "_schema")
        v = self.raw(schema["type"], indent)
        self.emit(indent, f"{v} = {convert}({v}, {at}, {at})")
        return v

    def optional(self, schema: list[Any], annotation: Any, indent: int) -> str:
        plain = _plain(annotation)
        if len(schema) != 2 or schema[0] != "null" or plain is None:
            raise Unsupported(f"union {schema} as {annotation}")
        v = self.fresh("v")
        self.emit(
            indent, f"{v} = data[pos]", "pos += 1", f"if {v} == 0:", f"    {v} = None", f"elif {v} == 2:"
        )
        inner = self.value(schema[1], plain, indent + 1)
        self.emit(indent, f"    {v} = {inner}", "else:", f"    raise ValueError({v})")
        return v

    def container(self, schema: dict[str, Any], annotation: Any, indent: int) -> str:
        origin, args = get_origin(annotation), get_args(annotation)
        if schema["type"] == "array" and origin is tuple and len(args) == 2 and args[1] is Ellipsis:
            item, build = (schema["items"], args[0]), "tuple"
        elif schema["type"] == "array" and origin is list and len(args) == 1:
            item, build = (schema["items"], args[0]), "list"
        elif schema["type"] == "map" and origin is dict and len(args) == 2 and args[0] is str:
            item, build = (schema["values"], args[1]), "dict"
        else:
            raise Unsupported(f"{schema['type']} as {annotation}")
        out, count = self.fresh("v"), self.fresh("n")
        self.emit(indent, f"{out} = []", f"{count}, pos = _read_long(data, pos)", f"while {count}:")
        self.emit(indent + 1, f"if {count} < 0:  # a block with its size in bytes first")
        self.emit(indent + 1, f"    {count} = -{count}", "    _, pos = _read_long(data, pos)")
        self.emit(indent + 1, f"for _ in range({count}):")
        key = self.string(indent + 2) if build == "dict" else None
        got = self.value(item[0], item[1], indent + 2)
        self.emit(indent + 2, f"{out}.append(({key}, {got}))" if key else f"{out}.append({got})")
        self.emit(indent + 1, f"{count}, pos = _read_long(data, pos)")
        if build != "list":
            self.emit(indent, f"{out} = {build}({out})")
        return out

    # -- records: a function each
    def record_call(self, schema: dict[str, Any], annotation: Any, indent: int) -> str:
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            raise Unsupported(f"record as {annotation}")
        function = self.record(schema, annotation)
        v = self.fresh("v")
        self.emit(indent, f"{v}, pos = {function}(data, pos)")
        return v

    def record(self, schema: Mapping[str, Any], model: type[BaseModel]) -> str:
        key = (schema["name"], model)
        if key in self.functions:
            return self.functions[key]
        names = [f["name"] for f in schema["fields"]]
        if names != list(model.model_fields) or not _compiles(model):
            raise Unsupported(model.__name__)
        function = self.functions[key] = self.fresh("_read_")
        outer, self.lines = self.lines, []
        values = [
            self.value(f["type"], model.model_fields[f["name"]].annotation, 1) for f in schema["fields"]
        ]
        body = self.lines
        cls = self.bind(model, "_model")
        fields = ", ".join(f"{name!r}: {v}" for name, v in zip(names, values, strict=True))
        self.lines = [f"def {function}(data, pos):", *body]
        # What validation would build from these values, without validating them again.
        self.emit(
            1,
            f"value = {cls}.__new__({cls})",
            f"_set(value, '__dict__', {{{fields}}})",
            f"_set(value, '__pydantic_fields_set__', {{{', '.join(repr(n) for n in names)}}})"
            if names
            else "_set(value, '__pydantic_fields_set__', set())",
            "_set(value, '__pydantic_extra__', None)",
            "_set(value, '__pydantic_private__', None)",
            "return value, pos",
        )
        self.done += [*self.lines, ""]
        self.lines = outer
        return function


def reader_of(parsed: Mapping[str, Any], model: type[BaseModel]) -> Read | None:
    """The compiled reader of a parsed top-level record schema into ``model``, or None
    for the reference path."""
    source = _Source(parsed.get("__named_schemas", {}))
    try:
        function = source.record(parsed, model)
    except Unsupported:
        return None
    exec(compile("\n".join(source.done), f"<avro reader of {model.__name__}>", "exec"), source.scope)
    read: Read = source.scope[function]
    return read
