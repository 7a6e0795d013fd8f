"""The ``oms`` command: one entry point for operators (``oms --help``).

Production commands live in ``streams.entrypoints``. Tooling for development (the local
broker, the demo) registers itself through the ``oms.commands`` entry point group, so the
production package never imports it and an install without it simply lacks those commands.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from importlib.metadata import entry_points

PLUGIN_GROUP = "oms.commands"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="oms",
        description="Event-sourced order management on Apache Kafka.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    from streams.entrypoints import api_cli, desk_cli, inventory_cli, order_cli, schemas_cli

    order_cli.register(sub)
    desk_cli.register(sub)
    api_cli.register(sub)
    inventory_cli.register(sub)
    schemas_cli.register(sub)
    for plugin in entry_points(group=PLUGIN_GROUP):
        try:
            register = plugin.load()
        except ImportError as exc:  # a production install without the dev tooling
            logging.getLogger(__name__).debug("no %s commands: %s", plugin.name, exc)
            continue
        register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    result: int = args.run(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
