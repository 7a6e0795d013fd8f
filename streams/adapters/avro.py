"""Avro serdes for the catalog in ``schemas/avro``, with the two standard framings.

* Avro single-object encoding (``C3 01`` + 8-byte little-endian CRC-64-AVRO fingerprint)
  by default: self-describing without any service.
* Confluent wire format (``00`` + 4-byte big-endian schema id) when a Schema Registry is
  configured.

Decoding dispatches on the first byte, so a topic can hold both during a migration.
Values are the pydantic models of the core; the ``.avsc`` files are the contract.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Protocol

import fastavro
from fastavro.schema import fingerprint, to_parsing_canonical_form
from pydantic import BaseModel, ValidationError

from streams.adapters.avro_reader import FAILED, Read, reader_of
from streams.adapters.avro_writer import REFUSED, Write, writer_of

SINGLE_OBJECT_MAGIC = b"\xc3\x01"
LOCK_NAME = "versions.lock.json"
"""Every released version of every record (see ``schema_lock.py``)."""
CONFLUENT_MAGIC = 0


class UndecodableRecord(ValueError):
    """A record this codec cannot turn into a model; it belongs on the dead-letter topic."""


class SchemaIds(Protocol):
    """The part of a Schema Registry the codec needs (see ``schema_registry.py``)."""

    def register(self, record_name: str, schema: str) -> int: ...

    def schema(self, schema_id: int) -> str: ...


def _load(path: Path) -> list[dict[str, Any]]:
    data = json.loads(path.read_text())
    return data if isinstance(data, list) else [data]


def _inline(schema: Any, defs: Mapping[str, Any], seen: set[str]) -> Any:
    """The schema with every named-type reference replaced by its definition (once)."""
    if isinstance(schema, str):
        if schema in defs and schema not in seen:
            seen.add(schema)
            return _inline(defs[schema], defs, seen)
        return schema
    if isinstance(schema, list):
        return [_inline(s, defs, seen) for s in schema]
    if isinstance(schema, dict):
        out = dict(schema)
        if out.get("type") == "record":
            full = out["name"] if "." in out["name"] else f"{out.get('namespace', '')}.{out['name']}"
            seen.add(full)
            out["fields"] = [{**f, "type": _inline(f["type"], defs, seen)} for f in out["fields"]]
        elif out.get("type") == "array":
            out["items"] = _inline(out["items"], defs, seen)
        elif out.get("type") == "map":
            out["values"] = _inline(out["values"], defs, seen)
        return out
    return schema


class SchemaCatalog:
    """Every record schema under ``schemas_dir``, parsed once, by full name.

    Files whose records are referenced by name from others (the envelopes and
    ``types.avsc``) are loaded first; each top-level record is self-contained after
    inlining, which is what its fingerprint and the registry see.
    """

    def __init__(self, schemas_dir: Path) -> None:
        self.schemas_dir = schemas_dir
        files = sorted(schemas_dir.rglob("*.avsc"), key=lambda p: (p.parent != schemas_dir, p.name))
        defs: dict[str, Any] = {}
        raw: list[dict[str, Any]] = []
        for path in files:
            for schema in _load(path):
                full = f"{schema.get('namespace', '')}.{schema['name']}"
                defs[full] = schema
                raw.append(schema)
        self.canonical: dict[str, str] = {}
        self.definitions: dict[str, str] = {}
        """The self-contained schema JSON, logical types and docs included (for a registry)."""
        self.parsed: dict[str, Any] = {}
        for schema in raw:
            full = f"{schema.get('namespace', '')}.{schema['name']}"
            inlined = _inline(schema, defs, set())
            parsed = fastavro.parse_schema(inlined)
            self.parsed[full] = parsed
            self.definitions[full] = json.dumps(inlined)
            self.canonical[full] = to_parsing_canonical_form(parsed)
        self.fingerprints: dict[str, bytes] = {
            name: bytes.fromhex(fingerprint(form, "CRC-64-AVRO")) for name, form in self.canonical.items()
        }
        self.earlier: dict[bytes, tuple[str, Any]] = {}
        """Fingerprint of an earlier released version -> (record name, its parsed schema)."""
        lock = schemas_dir / LOCK_NAME
        current = set(self.fingerprints.values())
        for name, versions in (json.loads(lock.read_text()) if lock.exists() else {}).items():
            for version in versions:
                print_ = bytes.fromhex(version["fingerprint"])
                if name in self.parsed and print_ not in current:
                    self.earlier[print_] = (name, fastavro.parse_schema(version["schema"]))

    def names(self) -> Iterable[str]:
        return self.parsed.keys()


class AvroCodec:
    """Encodes core models to framed Avro bytes and back.

    ``models`` maps a full Avro record name (e.g. ``oms.events.OrderShipped``) to its
    pydantic model; the model's class name must equal the record's name.
    """

    def __init__(
        self,
        catalog: SchemaCatalog,
        models: Iterable[type[BaseModel]],
        registry: SchemaIds | None = None,
    ) -> None:
        self.catalog = catalog
        self._registry = registry
        by_short = {full.rsplit(".", 1)[-1]: full for full in catalog.names()}
        self._name_of: dict[type[BaseModel], str] = {}
        self._model_of: dict[str, type[BaseModel]] = {}
        for model in models:
            full = by_short.get(model.__name__)
            if full is None:
                raise ValueError(f"no .avsc record named {model.__name__} in the catalog")
            self._name_of[model] = full
            self._model_of[full] = model
        self._by_fingerprint = {catalog.fingerprints[n]: n for n in self._model_of}
        self._earlier = {fp: v for fp, v in catalog.earlier.items() if v[0] in self._model_of}
        self._prefix: dict[str, bytes] = {
            n: SINGLE_OBJECT_MAGIC + catalog.fingerprints[n] for n in self._model_of
        }
        self._writers: dict[str, Write | None] = {n: writer_of(catalog.parsed[n]) for n in self._model_of}
        """The compiled writer of each record (``avro_writer``); None: fastavro writes it."""
        self._compiled: dict[type[BaseModel], tuple[Write, bytes]] = {}
        """Each model's compiled writer and framing prefix, in one look-up per ``encode``."""
        self._readers: dict[bytes, Read] = {}
        """The compiled reader (``avro_reader``) of each record, by its single-object
        prefix; a record without one is read by fastavro and validated."""
        for name, model in self._model_of.items():
            read = reader_of(catalog.parsed[name], model)
            if read is not None:
                self._readers[self._prefix[name]] = read
        self._by_schema_id: dict[int, str] = {}
        if registry is not None:
            # Imported here: confluent-kafka's registry client pulls in authlib and httpx,
            # a third of a second of every process's start-up, for users without a registry.
            from streams.adapters.schema_registry import frame

            for name in self._model_of:
                schema_id = registry.register(name, catalog.definitions[name])
                self._prefix[name] = frame(schema_id)
                self._by_schema_id[schema_id] = name
        for model, name in self._name_of.items():
            write = self._writers[name]
            if write is not None:
                self._compiled[model] = (write, self._prefix[name])

    def record_name(self, model: type[BaseModel]) -> str:
        return self._name_of[model]

    def encode(self, value: BaseModel) -> bytes:
        compiled = self._compiled.get(type(value))
        if compiled is not None:
            write, prefix = compiled
            out = bytearray(prefix)
            try:
                write(value, out)
                return bytes(out)
            except REFUSED:
                pass  # fastavro writes it, or says why it cannot
        return self._encode_with_fastavro(self._name_of[type(value)], value)

    def _encode_with_fastavro(self, name: str, value: BaseModel) -> bytes:
        """The reference encoding (``model_dump`` through fastavro), which the compiled
        writers match byte for byte."""
        buf = io.BytesIO()
        buf.write(self._prefix[name])
        fastavro.schemaless_writer(buf, self.catalog.parsed[name], value.model_dump())
        return buf.getvalue()

    def _body(self, data: bytes) -> tuple[str | None, int]:
        """The record's full name (None: an earlier version's fingerprint) and where its
        Avro body starts, from its framing."""
        if data is None or len(data) < 5:
            raise UndecodableRecord(f"too short for an Avro frame ({0 if data is None else len(data)} bytes)")
        if data[0] == 0xC3:
            if data[1] != 0x01 or len(data) < 10:
                raise UndecodableRecord("bad single-object header")
            return self._by_fingerprint.get(data[2:10]), 10
        if data[0] == CONFLUENT_MAGIC:
            from streams.adapters.schema_registry import unframe

            schema_id, offset = unframe(data)
            return self._schema_id_name(schema_id), offset
        raise UndecodableRecord(f"unknown framing (first byte 0x{data[0]:02x})")

    def decode_dict(self, data: bytes) -> tuple[str, dict[str, Any]]:
        """The record's full name and its Avro datum, without building the model."""
        name, offset = self._body(data)
        if name is None:
            return self._decode_earlier(data)
        try:
            datum = fastavro.schemaless_reader(io.BytesIO(data[offset:]), self.catalog.parsed[name], None)
        except Exception as exc:  # fastavro raises many types on corrupt input
            raise UndecodableRecord(f"{name}: corrupt Avro body ({type(exc).__name__}: {exc})") from exc
        return name, datum  # type: ignore[return-value]

    def _decode_earlier(self, data: bytes) -> tuple[str, dict[str, Any]]:
        """A record written with an earlier released version, resolved to today's schema."""
        found = self._earlier.get(data[2:10])
        if found is None:
            raise UndecodableRecord(f"unknown schema fingerprint {data[2:10].hex()}")
        name, writer = found
        try:
            datum = fastavro.schemaless_reader(io.BytesIO(data[10:]), writer, self.catalog.parsed[name])
        except Exception as exc:
            raise UndecodableRecord(f"{name} (earlier version): corrupt Avro body ({exc})") from exc
        return name, datum  # type: ignore[return-value]

    def decode(self, data: bytes) -> BaseModel:
        read = self._readers.get(data[:10]) if data else None
        if read is not None:
            try:
                value, end = read(data, 10)
                if end == len(data):
                    return value  # type: ignore[no-any-return]
            except FAILED:
                pass  # the reference path decodes it, or says why it cannot
        return self._decode_validated(data)

    def _decode_validated(self, data: bytes) -> BaseModel:
        """The reference decode (fastavro's datum, validated into the model), which the
        compiled readers match."""
        name, datum = self.decode_dict(data)
        try:
            return self._model_of[name].model_validate(datum)
        except ValidationError as exc:
            raise UndecodableRecord(f"{name}: {exc.error_count()} invalid fields: {exc}") from exc

    def _schema_id_name(self, schema_id: int) -> str:
        name = self._by_schema_id.get(schema_id)
        if name is not None:
            return name
        if self._registry is None:
            raise UndecodableRecord(
                f"Confluent-framed record (schema id {schema_id}) but no Schema Registry is "
                "configured: set OMS_SCHEMA_REGISTRY_URL"
            )
        try:
            canonical = to_parsing_canonical_form(
                fastavro.parse_schema(json.loads(self._registry.schema(schema_id)))
            )
        except Exception as exc:
            raise UndecodableRecord(f"schema id {schema_id}: {exc}") from exc
        for candidate, form in self.catalog.canonical.items():
            if form == canonical and candidate in self._model_of:
                self._by_schema_id[schema_id] = candidate
                return candidate
        raise UndecodableRecord(f"schema id {schema_id} matches no schema in the catalog")
