"""Logging, configured once per process: text for a person, JSON lines for everything else.

Every line that concerns an order carries its ids, so one ``jq`` filter follows an order
through every process::

    jq 'select(.order_id == "BC-100")' .oms/demo-logs/*.log

The ids come from a context (``contextvars``) that the services set around each command
or record with :class:`order_context`; a record's own ``extra={...}`` fields win. Every
line also names its ``process``. Secret values the process holds are masked in every
line, whatever printed them. Noisy loggers (librdkafka's reconnect chatter) pass through
:class:`RateLimit`: one line per message and interval, with a count of the rest.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
from collections.abc import Iterable
from contextvars import ContextVar, Token
from datetime import UTC, datetime
from typing import Any

from streams.shell.settings import LogFormat, LogLevel, ProcessSettings

CONTEXT_FIELDS = ("order_id", "correlation_id", "causation_id", "partition", "offset")
"""The ids a line about an order carries (JSON keys, text ``[key=value]``)."""

_context: ContextVar[dict[str, Any]] = ContextVar("oms_log_context", default={})  # noqa: B039 (never mutated)
_process = ["oms"]


class order_context:  # lower case: it reads as a function, ``with order_context(order_id=...)``
    """Log lines inside carry these ids (``order_id=``, ``correlation_id=``, ``causation_id=``,
    ``partition=``, ``offset=``), on top of the enclosing context's.

    A class, not a ``@contextmanager``: the writers enter one per command, and a generator
    costs several times more to enter and leave."""

    __slots__ = ("_ids", "_token")

    def __init__(self, **ids: Any) -> None:
        self._ids = ids

    def __enter__(self) -> None:
        self._token = enter_order_context(self._ids)

    def __exit__(self, *_: object) -> None:
        _context.reset(self._token)


def enter_order_context(ids: dict[str, Any]) -> Token[dict[str, Any]]:
    """What entering ``order_context(**ids)`` does, until ``leave_order_context(token)``,
    without the ``with``: for a loop that sets one per record (the writers, once per
    command: half the cost). ``ids`` is kept, not copied: the caller must not change it."""
    if None in ids.values():
        ids = {key: value for key, value in ids.items() if value is not None}
    base = _context.get()
    return _context.set({**base, **ids} if base else ids)


def leave_order_context(token: Token[dict[str, Any]]) -> None:
    _context.reset(token)


def current_context() -> dict[str, Any]:
    return dict(_context.get())


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    found = dict(_context.get())
    for name in CONTEXT_FIELDS:
        value = record.__dict__.get(name)
        if value is not None:
            found[name] = value
    return found


class _Masking(logging.Formatter):
    """Masks every secret value in the finished line."""

    def __init__(self, secrets: Iterable[str], fmt: str | None = None) -> None:
        super().__init__(fmt)
        self._secrets = sorted({s for s in secrets if len(s) >= 4}, key=len, reverse=True)

    def mask(self, line: str) -> str:
        for secret in self._secrets:
            line = line.replace(secret, "***")
        return line


class TextFormatter(_Masking):
    """``time LEVEL logger: message [order_id=... correlation_id=...]``."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__(secrets, "%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        ids = _fields(record)
        if ids:
            line += " [" + " ".join(f"{k}={v}" for k, v in ids.items()) + "]"
        return self.mask(line)


class JsonFormatter(_Masking):
    """One JSON object per line: time, level, logger, process, message, the order's ids."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "process": _process[0],
            "message": record.getMessage(),
            **_fields(record),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return self.mask(json.dumps(entry, default=str))


class RateLimit(logging.Filter):
    """At most one line per (logger, message template) and ``interval`` seconds from the
    loggers named (and their children); the next one that passes says how many were held back."""

    def __init__(self, interval: float = 30.0, names: tuple[str, ...] = ()) -> None:
        super().__init__()
        self.interval = interval
        self.names = names
        self._lock = threading.Lock()
        self._seen: dict[tuple[str, str], tuple[float, int]] = {}

    def _applies(self, name: str) -> bool:
        return not self.names or any(name == n or name.startswith(f"{n}.") for n in self.names)

    def filter(self, record: logging.LogRecord) -> bool:
        if not self._applies(record.name):
            return True
        key = (record.name, str(record.msg))
        now = time.monotonic()
        with self._lock:
            last, held = self._seen.get(key, (-self.interval, 0))
            if now - last < self.interval:
                self._seen[key] = (last, held + 1)
                return False
            self._seen[key] = (now, 0)
        if held:
            record.msg = f"{record.msg} ({held} more like it in the last {self.interval:.0f}s)"
        return True


NOISY_LOGGERS = ("librdkafka", "aiokafka", "kafka")
"""Client libraries that repeat the same complaint many times a second when a broker is away."""


def resolve_format(fmt: LogFormat) -> LogFormat:
    if fmt is LogFormat.AUTO:
        return LogFormat.TEXT if sys.stderr.isatty() else LogFormat.JSON
    return fmt


def configure(
    process: str,
    level: LogLevel = LogLevel.INFO,
    fmt: LogFormat = LogFormat.AUTO,
    secrets: Iterable[str] = (),
    rate_limit_seconds: float = 30.0,
) -> None:
    """The process's one logging setup: a stderr handler on the root logger (replacing any)."""
    _process[0] = process
    secrets = list(secrets)
    formatter: logging.Formatter = (
        JsonFormatter(secrets) if resolve_format(fmt) is LogFormat.JSON else TextFormatter(secrets)
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    handler.addFilter(RateLimit(rate_limit_seconds, NOISY_LOGGERS))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.value)
    logging.captureWarnings(True)


def configure_from(settings: ProcessSettings) -> None:
    """:func:`configure` with a process's settings: its kind, level, format and secrets."""
    configure(settings.process, settings.log_level, settings.log_format, settings.secrets())
