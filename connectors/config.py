"""Configuration every connector process shares: flags with environment defaults, and
secrets that only ever come from the environment or a file.

Secrets are never flags (a flag is visible to anyone who can list processes). Each one
is read from ``NAME`` or, when ``NAME_FILE`` is set, from that file (Docker and
Kubernetes secrets), and is held in a :class:`Secret` whose ``repr`` hides the value,
so no log line or traceback can print it.
"""

from __future__ import annotations

import argparse
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from connectors.http import RetryPolicy
from streams.settings import Settings


class ConfigError(Exception):
    """A connector cannot start: the message names the setting to fix."""


class Secret:
    """A credential. Print it, log it, put it in an f-string: you get ``***``."""

    __slots__ = ("_value", "name")

    def __init__(self, name: str, value: str) -> None:
        self.name = name
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return f"Secret({self.name}=***)"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


def read_secret(name: str, env: Mapping[str, str] | None = None, *, required: bool = True) -> Secret | None:
    """``NAME_FILE`` (a path; the file's content, trailing newline dropped) or ``NAME``."""
    env = os.environ if env is None else env
    path = env.get(f"{name}_FILE", "").strip()
    if path:
        try:
            value = Path(path).read_text().rstrip("\r\n")
        except OSError as exc:
            raise ConfigError(f"{name}_FILE names {path!r}, which cannot be read: {exc.strerror}") from exc
        return Secret(name, value)
    if env.get(name):
        return Secret(name, env[name])
    if required:
        raise ConfigError(f"set {name} (or {name}_FILE, a file that holds it)")
    return None


def env_default(name: str, fallback: str | None = None) -> str | None:
    value = os.environ.get(name, "").strip()
    return value or fallback


def env_float(name: str, fallback: float) -> float:
    raw = env_default(name)
    try:
        return float(raw) if raw is not None else fallback
    except ValueError as exc:
        raise ConfigError(f"{name} must be a number, not {raw!r}") from exc


def env_int(name: str, fallback: int) -> int:
    raw = env_default(name)
    try:
        return int(raw) if raw is not None else fallback
    except ValueError as exc:
        raise ConfigError(f"{name} must be an integer, not {raw!r}") from exc


@dataclass(frozen=True)
class RuntimeConfig:
    """Where a connector runs: its broker, consumer group, state, web listener, HTTP policy."""

    provider: str
    settings: Settings
    group_id: str
    instance_id: str
    state_dir: Path
    listen_host: str
    listen_port: int
    max_body_bytes: int
    in_flight: int
    http: RetryPolicy
    log_level: str


def base_parser(provider: str, title: str, default_port: int, description: str) -> argparse.ArgumentParser:
    """The flags every connector has; each flag's default comes from the variable its help names."""
    upper = provider.upper()
    parser = argparse.ArgumentParser(
        prog=f"python -m connectors.{provider}",
        description=description,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    kafka = parser.add_argument_group("Kafka")
    kafka.add_argument(
        "--bootstrap-servers",
        default=env_default("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092"),
        help="the broker (KAFKA_BOOTSTRAP_SERVERS; default %(default)s)",
    )
    kafka.add_argument(
        "--topic-prefix",
        default=env_default("OMS_TOPIC_PREFIX", ""),
        help="prepended to every topic name (OMS_TOPIC_PREFIX)",
    )
    kafka.add_argument(
        "--partitions",
        type=int,
        default=env_int("OMS_PARTITIONS", 6),
        help="partitions of every order topic (OMS_PARTITIONS; default %(default)s)",
    )
    kafka.add_argument(
        "--group-id",
        default=env_default(f"{upper}_GROUP_ID"),
        help=f"consumer group ({upper}_GROUP_ID; default <prefix>oms-connector-{provider})",
    )
    kafka.add_argument(
        "--instance-id",
        default=env_default(f"{upper}_INSTANCE_ID", "1"),
        help="stable per process of this connector: its static group membership, so a restart "
        f"takes its partitions back at once ({upper}_INSTANCE_ID; default %(default)s)",
    )
    kafka.add_argument(
        "--state-dir",
        type=Path,
        default=env_default(f"{upper}_STATE_DIR"),
        help=f"dedupe store and checkpoints, one per instance ({upper}_STATE_DIR; default "
        f"<OMS_STATE_DIR>/connectors/<prefix>{provider}-<instance id>)",
    )
    kafka.add_argument(
        "--in-flight",
        type=int,
        default=env_int("OMS_CONNECTOR_IN_FLIGHT", 16),
        help="provider actions performed at once; one order's actions always run in order "
        "(OMS_CONNECTOR_IN_FLIGHT; default %(default)s)",
    )
    web = parser.add_argument_group("webhooks")
    web.add_argument(
        "--listen-host",
        default=env_default(f"{upper}_LISTEN_HOST", "127.0.0.1"),
        help=f"address the webhook server binds ({upper}_LISTEN_HOST; default %(default)s)",
    )
    web.add_argument(
        "--listen-port",
        type=int,
        default=env_int(f"{upper}_LISTEN_PORT", default_port),
        help=f"webhook server port ({upper}_LISTEN_PORT; default %(default)s)",
    )
    web.add_argument(
        "--max-body-bytes",
        type=int,
        default=env_int("OMS_WEBHOOK_MAX_BYTES", 256 * 1024),
        help="larger webhook bodies are refused with 413 (OMS_WEBHOOK_MAX_BYTES; default %(default)s)",
    )
    http = parser.add_argument_group(f"calls to {title}")
    http.add_argument(
        "--http-tries",
        type=int,
        default=env_int("OMS_HTTP_TRIES", 4),
        help="tries per call, the first included (OMS_HTTP_TRIES; default %(default)s)",
    )
    http.add_argument(
        "--http-timeout",
        type=float,
        default=env_float("OMS_HTTP_TIMEOUT", 10.0),
        help="seconds per try (OMS_HTTP_TIMEOUT; default %(default)s)",
    )
    http.add_argument(
        "--http-backoff",
        type=float,
        default=env_float("OMS_HTTP_BACKOFF", 0.5),
        help="base of the exponential backoff with full jitter, seconds (OMS_HTTP_BACKOFF; "
        "default %(default)s)",
    )
    parser.add_argument(
        "--log-level",
        default=env_default("OMS_LOG_LEVEL", "INFO"),
        help="DEBUG, INFO, WARNING... (OMS_LOG_LEVEL; default %(default)s)",
    )
    return parser


def runtime_config(provider: str, args: argparse.Namespace) -> RuntimeConfig:
    if args.in_flight < 1:
        raise ConfigError("--in-flight must be at least 1")
    if args.http_tries < 1:
        raise ConfigError("--http-tries must be at least 1")
    settings = Settings.from_env(
        bootstrap_servers=args.bootstrap_servers,
        topic_prefix=args.topic_prefix,
        partitions=args.partitions,
    )
    prefix = settings.topic_prefix
    # Two instances on one host must not share a RocksDB (it is locked by its process).
    state_dir = args.state_dir or settings.state_dir / "connectors" / f"{prefix}{provider}-{args.instance_id}"
    return RuntimeConfig(
        provider=provider,
        settings=settings,
        group_id=args.group_id or f"{prefix}oms-connector-{provider}",
        instance_id=f"{provider}-{args.instance_id}",
        state_dir=Path(state_dir),
        listen_host=args.listen_host,
        listen_port=args.listen_port,
        max_body_bytes=args.max_body_bytes,
        in_flight=args.in_flight,
        http=RetryPolicy(tries=args.http_tries, timeout=args.http_timeout, backoff=args.http_backoff),
        log_level=args.log_level.upper(),
    )


def configure_logging(level: str) -> None:
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
