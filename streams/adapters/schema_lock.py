"""Every version of every record schema ever released, so history stays readable.

``schemas/avro/versions.lock.json`` is append-only: record name -> the self-contained
schema of each released version, with its CRC-64-AVRO fingerprint. Readers decode a
record with the version that wrote it (found by fingerprint) and resolve it to today's
schema. ``oms schemas lock`` adds changed schemas after checking that today's version can
read every earlier one (BACKWARD_TRANSITIVE); ``oms schemas check`` (run by the tests)
refuses a changed schema that is not locked yet.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from streams.adapters.avro import LOCK_NAME, SchemaCatalog

_PROMOTIONS = {
    "int": {"long", "float", "double"},
    "long": {"float", "double"},
    "float": {"double"},
    "string": {"bytes"},
    "bytes": {"string"},
}


class IncompatibleSchema(ValueError):
    pass


def lock_path(catalog: SchemaCatalog) -> Path:
    return catalog.schemas_dir / LOCK_NAME


def load_lock(path: Path) -> dict[str, list[dict[str, Any]]]:
    if not path.exists():
        return {}
    data: dict[str, list[dict[str, Any]]] = json.loads(path.read_text())
    return data


def _name(schema: Any) -> str | None:
    if isinstance(schema, dict) and schema.get("type") in ("record", "enum", "fixed"):
        name = str(schema["name"])
        return name if "." in name else f"{schema.get('namespace', '')}.{name}".lstrip(".")
    return schema if isinstance(schema, str) and schema not in _PRIMITIVES else None


_PRIMITIVES = {"null", "boolean", "int", "long", "float", "double", "bytes", "string"}


def _kind(schema: Any) -> str:
    if isinstance(schema, list):
        return "union"
    if isinstance(schema, dict):
        kind = schema["type"]
        return kind if isinstance(kind, str) else _kind(kind)
    return str(schema)


def can_read(reader: Any, writer: Any, where: str = "") -> list[str]:
    """Why data written with ``writer`` cannot be read as ``reader`` (empty: it can)."""
    rk, wk = _kind(reader), _kind(writer)
    if wk == "union":
        return [p for branch in writer for p in can_read(reader, branch, where)]
    if rk == "union":
        if any(not can_read(branch, writer, where) for branch in reader):
            return []
        return [f"{where or 'value'}: no branch of the reader's union reads the writer's {wk}"]
    if rk in _PRIMITIVES or wk in _PRIMITIVES:
        if rk == wk or rk in _PROMOTIONS.get(wk, set()):
            return []
        return [f"{where or 'value'}: {wk} cannot be read as {rk}"]
    if rk != wk:
        return [f"{where or 'value'}: {wk} cannot be read as {rk}"]
    if rk == "array":
        return can_read(reader["items"], writer["items"], f"{where}[]")
    if rk == "map":
        return can_read(reader["values"], writer["values"], f"{where}{{}}")
    if rk == "record":
        problems = []
        written = {f["name"]: f for f in writer["fields"]}
        for field in reader["fields"]:
            path = f"{where}.{field['name']}" if where else field["name"]
            if field["name"] in written:
                problems += can_read(field["type"], written[field["name"]]["type"], path)
            elif "default" not in field:
                problems.append(f"{path}: new field without a default")
        return problems
    return []


def unlocked(catalog: SchemaCatalog, lock: dict[str, list[dict[str, Any]]]) -> list[str]:
    """Record names whose current version is not in the lock."""
    return [
        name
        for name in sorted(catalog.names())
        if catalog.fingerprints[name].hex() not in {v["fingerprint"] for v in lock.get(name, [])}
    ]


def update_lock(catalog: SchemaCatalog) -> list[str]:
    """Lock every changed schema after checking it reads all its earlier versions."""
    path = lock_path(catalog)
    lock = load_lock(path)
    added = []
    for name in unlocked(catalog, lock):
        current = json.loads(catalog.definitions[name])
        problems = [
            f"{name} (vs {v['fingerprint']}): {p}"
            for v in lock.get(name, [])
            for p in can_read(current, v["schema"])
        ]
        if problems:
            raise IncompatibleSchema(
                "today's schema cannot read history it must keep reading:\n  " + "\n  ".join(problems)
            )
        lock.setdefault(name, []).append({"fingerprint": catalog.fingerprints[name].hex(), "schema": current})
        added.append(name)
    path.write_text(json.dumps(lock, indent=1, sort_keys=True) + "\n")
    return added
