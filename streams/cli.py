"""The ``oms`` command: one entry point for operators (``oms --help``, ``oms COMMAND --help``).

Production commands live in ``streams.entrypoints``; each command's flags come from its
process's settings class (``streams.shell``), so the same thing has the same flag
everywhere. Other packages add commands through the ``oms.commands`` entry point group:
each entry is a ``register(app: typer.Typer)`` function. The provider connectors and
simulators come in that way, and so do the development tools (the local broker, the
demo), so the production package never imports them and an install without them
simply lacks those commands. They are loaded only when the command line does not name a
production command (``oms writer`` starts without importing the dev tooling).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence
from importlib.metadata import entry_points

import typer

from streams.shell.commands import run_app

PLUGIN_GROUP = "oms.commands"


def build_app(command: str | None = None) -> typer.Typer:
    """Every command; given the ``command`` about to run and it is one of the production
    ones, without the plugins (loading them all took ~0.5-0.9 s of every process start)."""
    app = typer.Typer(
        name="oms",
        help="Event-sourced order management on Apache Kafka.",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
        context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110},
    )
    from streams.entrypoints import api_cli, desk_cli, dom_cli, inventory_cli, ops_cli, order_cli, schemas_cli

    for module in (order_cli, desk_cli, ops_cli, api_cli, inventory_cli, dom_cli, schemas_cli):
        module.register(app)
    if command is not None and command in typer.main.get_group(app).commands:
        return app
    for plugin in entry_points(group=PLUGIN_GROUP):
        try:
            register = plugin.load()
        except ImportError as exc:  # a production install without the dev tooling
            logging.getLogger(__name__).debug("no %s commands: %s", plugin.name, exc)
            continue
        register(app)
    return app


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; its exit code (2: a usage error, printed with the command's usage)."""
    from streams.entrypoints.running import observe_loops

    observe_loops()
    args = sys.argv[1:] if argv is None else list(argv)
    return run_app(build_app(_command_of(args)), argv, "oms")


def _command_of(args: Sequence[str]) -> str | None:
    """The command named on the line (its first word); None for ``oms --help`` and the like."""
    first = args[0] if args else ""
    return first if first and not first.startswith("-") else None


if __name__ == "__main__":
    sys.exit(main())
