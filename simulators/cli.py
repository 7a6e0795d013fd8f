"""``oms simulator PROVIDER``: each provider simulator, registered through the ``oms.commands``
entry point group (production code never imports the simulators). The arguments go to the
simulator's own command (``python -m simulators.PROVIDER``), whose flags come from its
settings dataclass (``simulators.common.process_settings``): importing the four simulators
only when one runs keeps every other ``oms`` command quick to start."""

from __future__ import annotations

import importlib
from collections.abc import Callable

import typer

PROVIDERS = {
    "bigcommerce": "BigCommerce: V2 orders, V3 webhooks (signed, retried).",
    "fno": "Dynamics 365 F&O: Entra token, OData sales orders, $batch, business events, dual-write.",
    "flexe": "Flexe: outbound orders, shipments, webhooks.",
    "sap": "SAP S/4HANA: OData sales orders with CSRF, billing documents, CloudEvents.",
}
PASS_THROUGH = {"allow_extra_args": True, "ignore_unknown_options": True, "help_option_names": []}


def register(app: typer.Typer) -> None:
    simulator = typer.Typer(
        help="Run a provider simulator (the vendor's API, its /_sim control plane, /metrics /health "
        "/ready). `oms simulator PROVIDER --help` lists its flags.",
        no_args_is_help=True,
    )
    for provider, summary in PROVIDERS.items():
        simulator.command(provider, help=summary, context_settings=PASS_THROUGH, add_help_option=False)(
            _runner(provider)
        )
    app.add_typer(simulator, name="simulator")


def _runner(provider: str) -> Callable[[typer.Context], None]:
    def run(ctx: typer.Context) -> None:
        module = importlib.import_module(f"simulators.{provider}")
        code: int = module.main(ctx.args, prog=f"oms simulator {provider}")
        raise typer.Exit(code)

    return run
