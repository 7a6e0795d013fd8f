"""Commands whose flags come from a settings class: one way to give a process its CLI.

``@with_settings(WriterSettings)`` below ``@app.command(...)`` gives the command one
flag per non-secret field (``--bootstrap-servers``, ``--batch-size``...; the help names
each field's variable and default) and calls it with the validated settings: flags on
top of the environment on top of the defaults. A value out of range is a usage error of
that command (exit 2, its usage). The expected failures of a process (broker away,
state folder of another cluster, bad configuration) print their message and exit 1,
without a traceback; logging is configured from the settings before the command runs.
"""

from __future__ import annotations

import functools
import inspect
import sys
import types
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from enum import Enum
from typing import Annotated, Any, TypeVar, Union, get_args, get_origin, get_type_hints

import typer
from pydantic import ValidationError
from pydantic.fields import FieldInfo

from streams.shell.logging import configure_from
from streams.shell.process import BrokerUnreachable, PortTaken
from streams.shell.settings import ProcessSettings, SettingsFileError, env_names, is_secret
from streams.shell.state import StateMismatch

S = TypeVar("S", bound=ProcessSettings)
F = TypeVar("F", bound=Callable[..., Any])

PANEL = "Settings (flag > environment > default)"
_CONTEXT = "oms_command_context"


class CommandFailed(Exception):
    """An expected failure: its message is all the operator needs (exit 1, no traceback)."""


EXPECTED_FAILURES: tuple[type[BaseException], ...] = (
    BrokerUnreachable,
    PortTaken,
    StateMismatch,
    CommandFailed,
    SettingsFileError,
)


def flag_name(field: str) -> str:
    return "--" + field.replace("_", "-")


def _plain_type(annotation: Any) -> Any:
    """``X`` of ``X | None``."""
    if get_origin(annotation) in (Union, types.UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        return args[0] if len(args) == 1 else str
    return annotation


def _shown_default(field: FieldInfo) -> str | bool:
    if field.is_required() or field.default_factory is not None or field.default in (None, ""):
        return False
    default = field.default
    return str(default.value if isinstance(default, Enum) else default)


def _flag(cls: type[ProcessSettings], name: str, field: FieldInfo) -> inspect.Parameter:
    plain = _plain_type(field.annotation)
    variables = ", ".join(env_names(cls, name))
    required = " [required]" if field.is_required() else ""
    helptext = f"{field.description or name} (env {variables}){required}"
    flag = flag_name(name)
    option = typer.Option(
        flag,
        help=helptext,
        show_default=_shown_default(field),
        rich_help_panel=PANEL,
        case_sensitive=False,
    )
    return inspect.Parameter(
        name, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=Annotated[plain | None, option]
    )


def settings_flags(cls: type[ProcessSettings]) -> list[inspect.Parameter]:
    return [_flag(cls, n, f) for n, f in cls.model_fields.items() if not is_secret(f)]


def load_settings(cls: type[S], flags: dict[str, Any], ctx: typer.Context | None = None) -> S:
    """``cls`` from the environment with ``flags`` on top; a bad value is a usage error naming
    the flag (and its variable)."""
    try:
        return cls(**{k: v for k, v in flags.items() if v is not None})
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            field = str(error["loc"][0]) if error["loc"] else ""
            where = field
            if field in cls.model_fields:
                where = f"{flag_name(field)} ({' or '.join(env_names(cls, field))})"
            message = error["msg"].removeprefix("Value error, ")
            got = "" if error["type"] == "missing" or not field else f" (got {error.get('input')!r})"
            problems.append(f"{where}: {message}{got}" if where else message)
        raise typer.BadParameter("; ".join(problems), ctx=ctx) from None
    except SettingsFileError as exc:
        raise typer.BadParameter(str(exc), ctx=ctx) from None


@contextmanager
def expected_failures() -> Iterator[None]:
    """An expected failure ends the command with its message and exit code 1."""
    try:
        yield
    except EXPECTED_FAILURES as exc:
        print(f"oms: {exc}", file=sys.stderr, flush=True)
        raise typer.Exit(1) from None


def with_settings(cls: type[ProcessSettings]) -> Callable[[F], F]:
    """The command gets ``settings: cls`` first and one flag per setting (see the module doc)."""

    def decorate(func: F) -> F:
        hints = get_type_hints(func, include_extras=True)
        own = [
            p.replace(annotation=hints.get(p.name, p.annotation), kind=inspect.Parameter.KEYWORD_ONLY)
            for p in inspect.signature(func).parameters.values()
            if p.name != "settings"
        ]
        flags = settings_flags(cls)
        names = {p.name for p in flags}

        @functools.wraps(func)
        def command(**kwargs: Any) -> Any:
            ctx = kwargs.pop(_CONTEXT)
            settings = load_settings(cls, {n: kwargs.pop(n) for n in names}, ctx)
            configure_from(settings)
            with expected_failures():
                return func(settings, **kwargs)

        context = inspect.Parameter(_CONTEXT, inspect.Parameter.KEYWORD_ONLY, annotation=typer.Context)
        parameters = [context, *own, *flags]
        command.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
        command.__annotations__ = {p.name: p.annotation for p in parameters}
        del command.__wrapped__
        return command  # type: ignore[return-value]

    return decorate


def run_app(app: typer.Typer, argv: Sequence[str] | None, prog: str) -> int:
    """Run a typer app as a command line; its exit code (2: a usage error, with the usage)."""
    command = typer.main.get_command(app)
    try:
        command.main(args=list(argv) if argv is not None else None, prog_name=prog)
    except SystemExit as done:
        return done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
    return 0


def run_command(command: Callable[..., Any], prog: str, help: str, argv: Sequence[str] | None) -> int:
    """One command as a program of its own (``python -m package.module``), as in ``oms``."""
    app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
    app.command(help=help)(command)
    return run_app(app, argv, prog)
