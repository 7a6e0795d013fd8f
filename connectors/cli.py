"""``oms connector PROVIDER``: each provider connector, registered through the ``oms.commands``
entry point group (so ``streams`` never imports the connectors). The arguments go to the
connector's own ``main`` (``python -m connectors.PROVIDER`` does the same)."""

from __future__ import annotations

import importlib
from collections.abc import Callable

import typer

PROVIDERS = {
    "bigcommerce": "BigCommerce: orders in (signed webhooks or polling), status written back.",
    "fno": "Dynamics 365 F&O: fulfillment and billing out; business events and dual-write in.",
    "flexe": "Flexe: orders out for fulfillment; shipments in.",
    "sap": "SAP S/4HANA: sales orders for billing out; billing documents in.",
}
PASS_THROUGH = {"allow_extra_args": True, "ignore_unknown_options": True, "help_option_names": []}


def register(app: typer.Typer) -> None:
    connector = typer.Typer(
        help="Run a provider connector (its webhooks, its actions, /metrics /health /ready). "
        "`oms connector PROVIDER --help` lists its settings.",
        no_args_is_help=True,
    )
    for provider, summary in PROVIDERS.items():
        connector.command(provider, help=summary, context_settings=PASS_THROUGH, add_help_option=False)(
            _runner(provider)
        )
    app.add_typer(connector, name="connector")


def _runner(provider: str) -> Callable[[typer.Context], None]:
    def run(ctx: typer.Context) -> None:
        module = importlib.import_module(f"connectors.{provider}")
        code: int = module.main(ctx.args)
        raise typer.Exit(code)

    return run
