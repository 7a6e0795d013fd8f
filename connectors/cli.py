"""``oms connector PROVIDER``: each provider connector, registered through the ``oms.commands``
entry point group (so ``streams`` never imports the connectors). Its flags come from the
provider's settings class (``connectors.config``); ``python -m connectors.PROVIDER`` runs
the same command."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from typing import Any

import typer

from connectors.config import BigCommerceSettings, ConnectorSettings, FlexeSettings, FnoSettings, SapSettings
from streams.shell.commands import run_command, with_settings

SETTINGS: dict[str, type[ConnectorSettings]] = {
    "bigcommerce": BigCommerceSettings,
    "fno": FnoSettings,
    "flexe": FlexeSettings,
    "sap": SapSettings,
}


def register(app: typer.Typer) -> None:
    connector = typer.Typer(
        help="Run a provider connector: its actions (provider.<p>.requests), its webhooks, and "
        "/metrics /health /ready on its port. `oms connector PROVIDER --help` lists its settings.",
        no_args_is_help=True,
    )
    for provider in SETTINGS:
        _add(connector, provider)
    app.add_typer(connector, name="connector")


def _add(app: typer.Typer, provider: str) -> None:
    app.command(provider, help=_help(SETTINGS[provider]))(command(SETTINGS[provider]))


def _help(cls: type[ConnectorSettings]) -> str:
    return f"The {cls.title} connector: {(cls.__doc__ or '').split(': ', 1)[-1]}"


def command(cls: type[ConnectorSettings]) -> Callable[..., Any]:
    """The connector's command: validated settings in, the connector module's ``start`` run."""

    def run(settings: ConnectorSettings) -> int:
        start: Callable[[ConnectorSettings], int] = importlib.import_module(
            f"connectors.{cls.provider}"
        ).start
        return start(settings)

    return with_settings(cls)(run)


def main(provider: str, argv: Sequence[str] | None) -> int:
    """``python -m connectors.PROVIDER``: the same command as ``oms connector PROVIDER``."""
    cls = SETTINGS[provider]
    return run_command(command(cls), f"python -m connectors.{provider}", _help(cls), argv)
