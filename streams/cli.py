"""The ``oms`` command: one entry point for operators (``oms --help``)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="oms",
        description="Event-sourced order management on Apache Kafka.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    from streams.entrypoints import api_cli, broker_cli, demo, inventory_cli, order_cli, schemas_cli

    broker_cli.register(sub)
    order_cli.register(sub)
    demo.register(sub)
    api_cli.register(sub)
    inventory_cli.register(sub)
    schemas_cli.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    result: int = args.run(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
