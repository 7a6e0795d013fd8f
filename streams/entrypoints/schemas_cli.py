"""``oms schemas``: keep every released Avro version readable."""

from __future__ import annotations

import argparse
from typing import Any

from streams.adapters.schema_lock import IncompatibleSchema, load_lock, lock_path, unlocked, update_lock
from streams.bootstrap import bootstrap
from streams.entrypoints.output import err


def register(sub: Any) -> None:
    schemas = sub.add_parser("schemas", help="check and lock the Avro schema versions")
    actions = schemas.add_subparsers(dest="action", required=True, metavar="ACTION")
    check = actions.add_parser("check", help="fail if a schema changed without being locked")
    check.set_defaults(run=_check)
    lock = actions.add_parser(
        "lock",
        help="add changed schemas to versions.lock.json after checking they read every earlier version",
    )
    lock.set_defaults(run=_lock)


def _check(args: argparse.Namespace) -> int:
    catalog = bootstrap().catalog
    missing = unlocked(catalog, load_lock(lock_path(catalog)))
    if missing:
        err("changed or new schemas not in versions.lock.json (run `oms schemas lock`):")
        for name in missing:
            err(f"  {name}")
        return 1
    print(f"all {len(catalog.parsed)} schemas are locked")
    return 0


def _lock(args: argparse.Namespace) -> int:
    catalog = bootstrap().catalog
    try:
        added = update_lock(catalog)
    except IncompatibleSchema as exc:
        err(str(exc))
        return 1
    for name in added:
        print(f"locked {name} {catalog.fingerprints[name].hex()}")
    if not added:
        print("nothing changed")
    return 0
