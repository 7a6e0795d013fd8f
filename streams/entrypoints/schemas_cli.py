"""``oms schemas``: keep every released Avro version readable."""

from __future__ import annotations

import typer

from streams.adapters.schema_lock import IncompatibleSchema, load_lock, lock_path, unlocked, update_lock
from streams.bootstrap import bootstrap
from streams.entrypoints.output import err
from streams.shell.commands import with_settings
from streams.shell.settings import Settings


def register(app: typer.Typer) -> None:
    schemas = typer.Typer(help="Check and lock the Avro schema versions.", no_args_is_help=True)
    schemas.command("check", help="Fail if a schema changed without being locked (no broker needed).")(_check)
    schemas.command(
        "lock",
        help="Add changed schemas to versions.lock.json, after checking each reads every earlier "
        "version (BACKWARD_TRANSITIVE).",
    )(_lock)
    app.add_typer(schemas, name="schemas")


@with_settings(Settings)
def _check(settings: Settings) -> int:
    catalog = bootstrap(settings).catalog
    missing = unlocked(catalog, load_lock(lock_path(catalog)))
    if missing:
        err("changed or new schemas not in versions.lock.json (run `oms schemas lock`):")
        for name in missing:
            err(f"  {name}")
        return 1
    print(f"all {len(catalog.parsed)} schemas are locked")
    return 0


@with_settings(Settings)
def _lock(settings: Settings) -> int:
    catalog = bootstrap(settings).catalog
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
